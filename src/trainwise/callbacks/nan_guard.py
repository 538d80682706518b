"""Stop a run whose loss has become NaN or infinite: nothing useful happens after that."""

from __future__ import annotations

import math

from trainwise.callbacks.base import Callback

WATCHED = {"loss": "training loss", "val_loss": "validation loss"}


def non_finite_key(record: dict) -> str | None:
    """The first of ``WATCHED`` whose value in ``record`` is NaN or infinite, or None."""
    for key in WATCHED:
        value = record.get(key)
        if value is not None and not math.isfinite(value):
            return key
    return None


def diverged(history: list[dict]) -> bool:
    """Whether the run's last epoch ended with a non-finite loss (what stops it here)."""
    return bool(history) and non_finite_key(history[-1]) is not None


class TerminateOnNaN(Callback):
    """Stops training at the end of the first epoch whose training or validation loss is not
    finite.

    The session then ends the run as ``diverged``: its history and diagnosis are written, the
    best checkpoint stays as it was, and no final metrics are computed from weights that
    produce NaN.
    """

    def on_epoch_end(self, trainer, record: dict) -> None:
        key = non_finite_key(record)
        if key is not None:
            trainer.state.stop_training = True
            trainer.state.stop_reason = (f"the {WATCHED[key]} became {record[key]} at "
                                         f"epoch {record['epoch']}: training diverged; lower "
                                         "train.lr or set train.grad_clip")
