"""Work saved at prediction time must not change a number: the 2×2 max-pool by quarters
gives torch's pool's values, and the final evaluation reads the last validation pass's
outputs only while the weights are the ones that made them."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tests.test_arrays import frames_config, sessions  # noqa: F401 (a fixture)
from trainwise.models.max_pool import MaxPool2d
from trainwise.run import Run
from trainwise.session import fit
from trainwise.training.kept_outputs import KeptOutputs

# ------------------------------------------------------------------- the quarters max-pool


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 3), channels=st.integers(1, 20), height=st.integers(2, 11),
       width=st.integers(2, 11), channels_last=st.booleans(), seed=st.integers(0, 2**16),
       special=st.sampled_from(["none", "ties", "nan", "inf"]))
def test_the_quarters_pool_gives_torchs_pool_values(batch, channels, height, width,
                                                      channels_last, seed, special):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, height, width, generator=generator)
    if special == "ties":  # whole windows of one value, as a conv gives over a flat background
        x = torch.round(x)
    elif special in ("nan", "inf"):
        x.view(-1)[:: 7] = float(special)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        fast = MaxPool2d(2)(x)
    expected = nn.functional.max_pool2d(x, 2)
    assert fast.shape == expected.shape
    assert torch.equal(fast.isnan(), expected.isnan())
    assert torch.equal(torch.nan_to_num(fast), torch.nan_to_num(expected))
    # The next convolution gets the memory format it was given.
    assert fast.is_contiguous(memory_format=torch.channels_last if channels_last
                              else torch.contiguous_format)


def test_training_keeps_torchs_pool_and_its_gradient():
    pool = MaxPool2d(2)
    x = torch.randn(4, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert pool._halves(x)
    leaf = x.clone().requires_grad_()
    assert not pool._halves(leaf)
    output = pool(leaf)
    assert output.grad_fn is not None and "MaxPool2D" in type(output.grad_fn).__name__
    # Other windows, strides and padding are torch's pool everywhere.
    for other in (MaxPool2d(3), MaxPool2d(2, 1), MaxPool2d(2, padding=1),
                  MaxPool2d(2, ceil_mode=True)):
        with torch.no_grad():
            assert not other._halves(x)
            assert torch.equal(other(x), nn.MaxPool2d(other.kernel_size, other.stride,
                                                      other.padding,
                                                      ceil_mode=other.ceil_mode)(x))


# ------------------------------------------------------------------- kept validation outputs


def test_kept_outputs_are_given_only_for_the_weights_that_made_them():
    model = nn.Sequential(nn.Linear(3, 2))
    optimizer = torch.optim.Adam(model.parameters(), fused=True)
    outputs = torch.randn(5, 2)
    kept = KeptOutputs.of(model, 7, outputs)
    assert kept.for_model(model, 7) is outputs
    assert kept.for_model(model, 8) is None  # a step later
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()  # fused Adam leaves the version counters alone: the step tells
    assert KeptOutputs.of(model, 8, outputs).for_model(model, 8) is outputs
    restored = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    again = KeptOutputs.of(model, 8, outputs)
    model.load_state_dict(restored)  # e.g. early stopping restoring its best epoch
    assert again.for_model(model, 8) is None
    assert again.for_model(nn.Sequential(nn.Linear(3, 2)), 8) is None  # another model


@pytest.mark.parametrize("stopping", [
    {"enabled": False},  # the last epoch's weights: its validation outputs are read again
    {"enabled": True, "patience": 2, "restore_best": True},  # restored: computed anew
])
def test_the_final_record_is_the_same_with_and_without_the_kept_outputs(
        sessions, tmp_path, monkeypatch, stopping):
    import trainwise.run_record as run_record
    import trainwise.tasks.base as base

    def record(runs_dir, allow_kept: bool) -> tuple[Run, list[int]]:
        passes = []
        with monkeypatch.context() as patch:
            real = base.model_outputs
            patch.setattr(base, "model_outputs",
                          lambda model, x: passes.append(len(x)) or real(model, x))
            if not allow_kept:
                patch.setattr(run_record, "_kept_validation_outputs", lambda *args: None)
            run = fit(frames_config(sessions, tmp_path, train__epochs=8, train__lr=0.3,
                                    train__seed=1, train__early_stopping=stopping),
                      runs_dir=runs_dir)
        return run, passes

    kept, kept_passes = record(tmp_path / "a", allow_kept=True)
    fresh, fresh_passes = record(tmp_path / "b", allow_kept=False)
    for name in ("metrics.json", "predictions.csv"):
        assert (kept.run_dir.path / name).read_bytes() == (fresh.run_dir.path / name).read_bytes()
    losses = [record["val_loss"] for record in kept.history]
    if stopping["enabled"]:
        assert losses.index(min(losses)) < len(losses) - 1  # the best epoch was restored
        assert kept_passes == fresh_passes  # so the kept outputs were not used
    else:  # the last pass's outputs were read: the validation split needed no pass
        assert len(kept_passes) == len(fresh_passes) - 1  # only the test split's
    assert "val" in json.loads((kept.run_dir.path / "metrics.json").read_text())
