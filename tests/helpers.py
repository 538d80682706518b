"""Helpers shared by tests."""

from __future__ import annotations


def small_config(source, target="y", task="regression", **train) -> dict:
    """A tiny, fast config as a dict."""
    return {
        "name": "test",
        "data": {"source": str(source), "target": target},
        "task": {"type": task},
        "model": {"hidden": [16]},
        "train": {"epochs": 5, "batch_size": 32, "lr": 0.01, **train},
    }


def comparable_history(run) -> list[dict]:
    """A run's history without wall-clock time, the one field two identical runs may differ in."""
    return [{k: v for k, v in record.items() if k != "epoch_time_s"} for record in run.history]


def assert_same_run(expected, actual) -> None:
    """Bit-for-bit the same training: history, final weights and metrics."""
    import torch

    assert comparable_history(actual) == comparable_history(expected)
    actual_weights = actual.model.state_dict()
    for name, tensor in expected.model.state_dict().items():
        assert torch.equal(tensor, actual_weights[name]), name
    assert actual.metrics == expected.metrics


def _interrupt_at_step():
    from trainwise.callbacks import Callback

    class InterruptAtStep(Callback):
        """Acts like Ctrl-C arriving after optimizer step ``step`` (e.g. mid-epoch)."""

        def __init__(self, step: int):
            self.step = step

        def on_batch_end(self, trainer, loss):
            if trainer.state.global_step == self.step:
                trainer.state.interrupted = True

    return InterruptAtStep


InterruptAtStep = _interrupt_at_step()
