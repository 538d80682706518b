"""Stop a run whose loss has become NaN or infinite: nothing useful happens after that."""

from __future__ import annotations

import math

from trainwise.callbacks.base import Callback


class TerminateOnNaN(Callback):
    """Stops training at the end of the first epoch whose training loss is not finite.

    The run ends as ``finished`` with the reason in its status, and early stopping (when on)
    restores the last good best weights.
    """

    def on_epoch_end(self, trainer, record: dict) -> None:
        if not math.isfinite(record["loss"]):
            trainer.state.stop_training = True
            trainer.state.stop_reason = (f"the training loss became {record['loss']} at epoch "
                                         f"{record['epoch']}; lower train.lr or set train.grad_clip")
