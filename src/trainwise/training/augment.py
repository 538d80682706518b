"""Seeded, per-batch augmentation of image-like training batches, exact on resume.

``build_augmenter`` turns ``data.augment`` and one sample's shape into an ``Augmenter``: a
fixed list of ops (``augment_ops.py``) that draws every decision from a CPU generator seeded
per call, never from the global RNG that dropout and mixup consume. ``AugmentedBatches``
wraps the trainer's batches and seeds batch ``k`` of epoch ``e`` with ``(seed, e, k)``, so a
run resumed mid-epoch augments each remaining batch exactly as an uninterrupted run did, with
no state saved. Validation batches never pass through it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from trainwise.config.augment import AugmentConfig
from trainwise.errors import UserError
from trainwise.training.augment_ops import (Affine, Amplitude, Blur, Brightness, Contrast, Flip,
                                            Noise, Rot90, TimeShift, blur_kernel)

# Ops that need a (C, H, W) sample: they turn or move a plane.
PLANE_OPS = {"hflip": "mirroring left-right", "vflip": "mirroring top-bottom",
             "rot90": "turning by 90°", "rotate": "rotation", "shift": "shifting"}
# A first entropy word of its own keeps augmentation's seeds apart from the shuffle's.
AUGMENT_STREAM = 0x61756720  # "aug "


class Augmenter:
    """Applies a fixed sequence of ops to a batch, every random choice drawn from ``seed``.

    The output depends only on the input and the seed: not on the global RNG (left
    untouched) nor on earlier calls. Per-sample choices are drawn on the CPU and only those
    numbers go to the batch's device; nothing is read back, so a call never waits on the GPU.

    Args:
        ops: callables ``op(x, generator) -> x`` (see ``augment_ops.py``), applied in order.
        sample_shape: one sample's shape, ``(C, L)`` or ``(C, H, W)``.

    Example:
        >>> augment = build_augmenter(AugmentConfig(hflip=0.5, noise_std=0.1), (3, 8, 8))
        >>> x = torch.zeros(4, 3, 8, 8)
        >>> torch.equal(augment(x, seed=7), augment(x, seed=7))
        True
    """

    def __init__(self, ops: Sequence, sample_shape: tuple[int, ...]):
        self.ops = list(ops)
        self.sample_shape = tuple(sample_shape)

    def __call__(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """The augmented batch.

        Args:
            x: (B, *sample_shape) floating tensor, on any device.
            seed: any integer in [-2**63, 2**64).

        Returns:
            A new tensor of x's shape, dtype and device.

        Raises:
            ValueError: when x's samples are not shaped like ``sample_shape``.
        """
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(f"the augmenter was built for samples shaped {self.sample_shape}; "
                             f"got a batch shaped {tuple(x.shape)}")
        generator = torch.Generator().manual_seed(seed)
        for op in self.ops:
            x = op(x, generator)
        return x


def build_augmenter(cfg: AugmentConfig, sample_shape: tuple[int, ...]) -> Augmenter | None:
    """The augmenter ``cfg`` asks for, checked against the data's sample shape.

    Args:
        cfg: the ``data.augment`` section.
        sample_shape: one sample's shape: ``(C, L)`` frames or ``(C, H, W)`` images.

    Returns:
        The augmenter, or None when no op is on.

    Raises:
        UserError: naming the key, when an op does not suit the samples: a plane op on 1-D
            frames, 90° turns of non-square images, a time shift that rounds to no step, or
            samples that are neither frames nor images.
    """
    active = cfg.active()
    if not active:
        return None
    shape = tuple(sample_shape)
    _check_shape(active, shape)
    return Augmenter(_ops(cfg, shape), shape)


def _check_shape(active: tuple[str, ...], shape: tuple[int, ...]) -> None:
    if len(shape) not in (2, 3):
        raise UserError(f"data.augment: augmentation works on samples shaped (C, L) or "
                        f"(C, H, W); these samples are shaped {shape}. Remove data.augment.")
    for key in active:
        if key in PLANE_OPS and len(shape) == 2:
            raise UserError(f"data.augment.{key}: {PLANE_OPS[key]} needs 2-D samples "
                            f"(C, H, W), but these are 1-D frames shaped {shape}. Set it to "
                            f"0; frames take time_shift, amplitude, brightness, contrast, "
                            f"blur_sigma and noise_std.")
    if "rot90" in active and shape[-1] != shape[-2]:
        raise UserError(f"data.augment.rot90: turning by 90° needs square samples, but these "
                        f"are {shape[-2]} x {shape[-1]}. Set it to 0 (hflip and vflip keep "
                        f"the shape).")


def _ops(cfg: AugmentConfig, shape: tuple[int, ...]) -> list:
    """The ops in their fixed order: geometry, then blur, then values, then noise."""
    active = set(cfg.active())
    ops = []
    if "hflip" in active:
        ops.append(Flip(cfg.hflip, dim=-1))
    if "vflip" in active:
        ops.append(Flip(cfg.vflip, dim=-2))
    if "rot90" in active:
        ops.append(Rot90(cfg.rot90))
    if active & {"rotate", "shift"}:
        ops.append(Affine(cfg.rotate, cfg.rotate_p if "rotate" in active else 0.0, cfg.shift,
                          cfg.shift_p if "shift" in active else 0.0, cfg.fill_mode))
    if "time_shift" in active:
        ops.append(TimeShift(_time_shift_steps(cfg.time_shift, shape[-1]), cfg.time_shift_p))
    if "blur_sigma" in active:
        ops.append(Blur(cfg.blur_sigma, cfg.blur_p, _blur_kernel(cfg.blur_sigma[1], shape)))
    if "contrast" in active:
        ops.append(Contrast(cfg.contrast, cfg.contrast_p))
    if "brightness" in active:
        ops.append(Brightness(cfg.brightness, cfg.brightness_p))
    if "amplitude" in active:
        ops.append(Amplitude(cfg.amplitude, cfg.amplitude_p))
    if "noise_std" in active:
        ops.append(Noise(cfg.noise_std, cfg.noise_p))
    return ops


def _time_shift_steps(fraction: float, length: int) -> int:
    steps = int(fraction * length)
    if steps == 0:
        raise UserError(f"data.augment.time_shift: {fraction} of {length} steps rounds to no "
                        f"shift at all; raise it to at least {1 / length:.3g}.")
    return steps


def _blur_kernel(high_sigma: float, shape: tuple[int, ...]) -> tuple[int, int]:
    """(height, width) of the blur kernel; 1-D frames blur along L only (height 1)."""
    if len(shape) == 2:
        return 1, blur_kernel(high_sigma, shape[-1])
    return blur_kernel(high_sigma, shape[-2]), blur_kernel(high_sigma, shape[-1])


def augment_seed(seed: int, epoch: int, batch: int) -> int:
    """The seed for batch ``batch`` (counted from 0, skipped ones included) of ``epoch``.

    ``SeedSequence`` hashes the three numbers together, so nearby runs, epochs and batches
    get unrelated streams, unrelated to the shuffle's ``seed * 1_000_003 + epoch`` too.

    Args:
        seed: the run's seed (negative seeds are taken modulo 2**64).
        epoch: the epoch, from 0.
        batch: the batch's index within the epoch, from 0.

    Returns:
        A 64-bit seed for ``Augmenter.__call__``.
    """
    words = [AUGMENT_STREAM, seed % 2**64, epoch, batch]
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0])


class AugmentedBatches:
    """Any training batches, with each batch's inputs augmented by a seed of its own.

    Everything else (``len``, ``seed``, ``n_rows``, ``features``, ``targets``, ``weights``...)
    is the wrapped object's, read through, since callbacks such as pseudo-labelling read it.

    Args:
        batches: anything with ``len(batches)`` and ``batches.epoch(epoch, skip=0)``
            yielding ``(x, y, w)`` (``InMemoryBatches``, ``StreamingBatches``).
        augment: the augmenter (``build_augmenter``).
        seed: the run's seed.

    Example:
        >>> from trainwise.training.batches import InMemoryBatches
        >>> plain = InMemoryBatches(torch.zeros(10, 1, 4, 4), torch.zeros(10), 4, seed=0)
        >>> batches = AugmentedBatches(plain, build_augmenter(
        ...     AugmentConfig(brightness=0.1), (1, 4, 4)), seed=0)
        >>> [tuple(x.shape) for x, _, _ in batches.epoch(0, skip=2)], len(batches)
        ([(2, 1, 4, 4)], 3)
    """

    def __init__(self, batches, augment: Augmenter, seed: int):
        self.batches = batches
        self.augment = augment
        self.augment_seed = seed

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self.batches)

    def __getattr__(self, name: str):
        # Only reached for names not set here. "batches" itself is refused, so a half-built
        # object (copy, unpickling) raises AttributeError instead of recursing forever.
        if name == "batches":
            raise AttributeError(name)
        return getattr(self.batches, name)

    def epoch(self, epoch: int, skip: int = 0) -> Iterator[tuple]:
        """Yield the ``(x, y, w)`` batches of ``epoch`` after the first ``skip``, x augmented."""
        for index, (x, y, w) in enumerate(self.batches.epoch(epoch, skip=skip), start=skip):
            yield self.augment(x, augment_seed(self.augment_seed, epoch, index)), y, w
