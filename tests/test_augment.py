"""Seeded per-batch augmentation: each op, reproducibility, the global RNG, resume, shapes."""

from __future__ import annotations

import time

import pytest
import torch
from pydantic import ValidationError

from trainwise.config.augment import AugmentConfig
from trainwise.errors import UserError
from trainwise.training.augment import AugmentedBatches, augment_seed, build_augmenter
from trainwise.training.batches import InMemoryBatches

# Each op on its own, applied to every sample (p = 1).
PLANE_OPS = {
    "hflip": {"hflip": 1.0},
    "vflip": {"vflip": 1.0},
    "rot90": {"rot90": 1.0},
    "rotate": {"rotate": 30.0, "rotate_p": 1.0},
    "shift": {"shift": 0.25, "shift_p": 1.0},
}
ANY_RANK_OPS = {
    "brightness": {"brightness": 0.5, "brightness_p": 1.0},
    "contrast": {"contrast": 0.5, "contrast_p": 1.0},
    "blur_sigma": {"blur_sigma": (0.5, 1.5), "blur_p": 1.0},
    "noise_std": {"noise_std": 0.1, "noise_p": 1.0},
    "time_shift": {"time_shift": 0.5, "time_shift_p": 1.0},
    "amplitude": {"amplitude": (1.5, 2.0), "amplitude_p": 1.0},
}
ALL_OPS = {**PLANE_OPS, **ANY_RANK_OPS}
EVERYTHING = {key: value for op in ALL_OPS.values() for key, value in op.items()}
FRAME_EVERYTHING = {key: value for op in ANY_RANK_OPS.values() for key, value in op.items()}
# Sample shapes: 1-D frames (C, L) and 2-D images (C, H, W).
FRAME, IMAGE = (3, 16), (3, 8, 8)


def _with_p(op: dict, p: float) -> dict:
    """The op's settings with its probability set to ``p``."""
    return {key: (p if key.endswith("_p") or key in ("hflip", "vflip", "rot90") else value)
            for key, value in op.items()}


def _everything_for(shape: tuple[int, ...]) -> dict:
    return EVERYTHING if len(shape) == 3 else FRAME_EVERYTHING


def _changed(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B,) bool: which samples differ at all."""
    return (x != y).flatten(1).any(dim=1)


@pytest.mark.parametrize(("name", "shape"), [
    *(pytest.param(name, IMAGE, id=f"{name}-images") for name in ALL_OPS),
    *(pytest.param(name, FRAME, id=f"{name}-frames") for name in ANY_RANK_OPS)])
def test_each_op_changes_chosen_samples_and_leaves_the_rest(name, shape):
    x = torch.randn(32, *shape)
    every = build_augmenter(AugmentConfig(**_with_p(ALL_OPS[name], 1.0)), shape)(x, seed=1)
    some = build_augmenter(AugmentConfig(**_with_p(ALL_OPS[name], 0.5)), shape)(x, seed=1)
    # A roll may draw 0 steps; every other op changes each sample it touches.
    assert _changed(x, every).float().mean() > (0.8 if name == "time_shift" else 0.99)
    assert 0 < _changed(x, some).sum() < len(x)


@pytest.mark.parametrize("name", list(ALL_OPS))
def test_probability_zero_turns_the_op_off(name):
    assert build_augmenter(AugmentConfig(**_with_p(ALL_OPS[name], 0.0)), IMAGE) is None


@pytest.mark.parametrize("name", ["hflip", "vflip", "rot90"])
def test_flips_and_turns_keep_each_samples_values(name):
    x = torch.randn(16, *IMAGE)
    y = build_augmenter(AugmentConfig(**ALL_OPS[name]), IMAGE)(x, seed=3)
    assert torch.equal(x.flatten(1).sort(dim=1).values, y.flatten(1).sort(dim=1).values)


def test_a_turn_is_one_of_the_three_quarter_turns():
    x = torch.randn(16, *IMAGE)
    y = build_augmenter(AugmentConfig(rot90=1.0), IMAGE)(x, seed=3)
    for sample, turned in zip(x, y):
        assert any(torch.equal(torch.rot90(sample, k, dims=(-2, -1)), turned) for k in (1, 2, 3))


def test_a_time_shift_is_a_circular_roll_of_the_last_axis():
    x = torch.randn(16, *FRAME)
    y = build_augmenter(AugmentConfig(time_shift=0.25, time_shift_p=1.0), FRAME)(x, seed=3)
    for sample, rolled in zip(x, y):
        assert any(torch.equal(torch.roll(sample, k, dims=-1), rolled) for k in range(-4, 5))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("channels", [1, 3, 13])
@pytest.mark.parametrize("size", [(16,), (8, 8)], ids=["frames", "images"])
def test_everything_on_keeps_shape_and_dtype(size, channels, dtype):
    shape = (channels, *size)
    x = torch.randn(5, *shape, dtype=dtype)
    y = build_augmenter(AugmentConfig(**_everything_for(shape)), shape)(x, seed=0)
    assert y.shape == x.shape and y.dtype == dtype and torch.isfinite(y).all()


@pytest.mark.parametrize("shape", [FRAME, IMAGE], ids=["frames", "images"])
def test_same_seed_same_output_other_seed_other_output(shape):
    augment = build_augmenter(AugmentConfig(**_everything_for(shape)), shape)
    x = torch.randn(8, *shape)
    assert torch.equal(augment(x, seed=5), augment(x, seed=5))
    assert not torch.equal(augment(x, seed=5), augment(x, seed=6))


def test_the_global_rng_is_left_alone():
    augment = build_augmenter(AugmentConfig(**EVERYTHING), IMAGE)
    x = torch.randn(8, *IMAGE)
    before = torch.get_rng_state()
    augment(x, seed=1)
    assert torch.equal(before, torch.get_rng_state())


def _augmented_batches(seed: int = 4) -> AugmentedBatches:
    plain = InMemoryBatches(torch.randn(22, *IMAGE), torch.arange(22.0), batch_size=4,
                            seed=seed)
    return AugmentedBatches(plain, build_augmenter(AugmentConfig(**EVERYTHING), IMAGE), seed)


def test_a_resumed_epoch_augments_its_batches_as_the_whole_epoch_did():
    batches = _augmented_batches()
    whole, tail = list(batches.epoch(3)), list(batches.epoch(3, skip=2))
    assert len(whole) == len(batches) == 6 and len(tail) == 4
    for (x, y, _), (x_tail, y_tail, _) in zip(whole[2:], tail):
        assert torch.equal(x, x_tail) and torch.equal(y, y_tail)


def test_batches_and_epochs_get_their_own_draws():
    batches = _augmented_batches()
    plain = list(batches.batches.epoch(0))
    augmented = list(batches.epoch(0))
    assert all(_changed(x, x_aug).any() for (x, _, _), (x_aug, _, _) in zip(plain, augmented))
    first, again = next(batches.epoch(0))[0], next(batches.epoch(1))[0]
    assert first.shape == again.shape and not torch.equal(first, again)


def test_wrapped_batches_attributes_read_through():
    batches = _augmented_batches(seed=9)
    assert batches.seed == 9 and batches.n_rows == 22 and batches.batch_size == 4
    assert batches.features is batches.batches.features and batches.weights is None
    with pytest.raises(AttributeError):
        batches.no_such_attribute


def test_augment_seeds_differ_across_runs_epochs_and_batches():
    seeds = {augment_seed(s, e, b) for s in (-1, 0, 1) for e in range(4) for b in range(4)}
    assert len(seeds) == 48 and all(0 <= seed < 2**64 for seed in seeds)


@pytest.mark.parametrize("name", list(PLANE_OPS))
def test_a_plane_op_on_frames_is_refused_by_name(name):
    with pytest.raises(UserError, match=f"data.augment.{name}:"):
        build_augmenter(AugmentConfig(**ALL_OPS[name]), FRAME)


def test_quarter_turns_need_square_images():
    with pytest.raises(UserError, match="data.augment.rot90: .*square"):
        build_augmenter(AugmentConfig(rot90=0.5), (3, 8, 6))
    assert build_augmenter(AugmentConfig(hflip=0.5, rotate=10), (3, 8, 6)) is not None


def test_samples_that_are_neither_frames_nor_images_are_refused():
    with pytest.raises(UserError, match=r"data.augment: .*\(7,\)"):
        build_augmenter(AugmentConfig(brightness=0.1), (7,))


def test_a_time_shift_of_no_whole_step_is_refused():
    with pytest.raises(UserError, match="data.augment.time_shift: .*no shift"):
        build_augmenter(AugmentConfig(time_shift=0.05), (3, 10))


def test_nothing_enabled_builds_nothing():
    cfg = AugmentConfig()
    assert not cfg.enabled and cfg.active() == ()
    assert build_augmenter(cfg, IMAGE) is None
    assert AugmentConfig(vflip=0.1).enabled


def test_config_refuses_a_probability_without_a_size_and_unknown_keys():
    with pytest.raises(ValidationError, match="rotate_p is set but rotate"):
        AugmentConfig(rotate_p=0.8)
    # A saved config lists every key at its default: that must load again.
    assert AugmentConfig(**AugmentConfig().model_dump()) == AugmentConfig()
    with pytest.raises(ValidationError, match="low <= high"):
        AugmentConfig(blur_sigma=(2.0, 1.0))
    with pytest.raises(ValidationError, match="Extra inputs"):
        AugmentConfig(horizontal_flip=0.5)
    with pytest.raises(ValidationError):
        AugmentConfig(hflip=1.5)


def test_a_batch_of_another_shape_is_a_programming_error():
    augment = build_augmenter(AugmentConfig(hflip=0.5), IMAGE)
    with pytest.raises(ValueError, match="built for samples shaped"):
        augment(torch.zeros(2, 3, 8, 9), seed=0)


def test_time_per_batch_with_everything_on():
    """Measured, not asserted: 256 x (3, 32, 32), every op on at p = 1."""
    shape = (3, 32, 32)
    augment = build_augmenter(AugmentConfig(**EVERYTHING), shape)
    x = torch.randn(256, *shape)
    augment(x, seed=0)  # warm-up
    start = time.perf_counter()
    for seed in range(2):
        augment(x, seed=seed)
    print(f"\naugment: {(time.perf_counter() - start) / 2 * 1000:.1f} ms per batch of "
          f"256 x {shape} on the CPU, {torch.get_num_threads()} threads")
