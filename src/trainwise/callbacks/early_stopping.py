"""Stop when the monitored value stops improving, and end with the best weights."""

from __future__ import annotations

import copy

from trainwise.callbacks.base import Callback
from trainwise.callbacks.monitor import Monitor


class EarlyStopping(Callback):
    """Stops training after ``patience`` epochs without improvement of ``monitor``.

    Args:
        monitor: history key to watch, e.g. "val_loss".
        mode: "min", "max" or "auto".
        patience: epochs without improvement to tolerate.
        min_delta: smallest change that counts as an improvement.
        restore_best: load the best epoch's weights when training ends (not on interrupt:
            an interrupted run is not over, and resuming needs its last weights).
        min_epochs: never stop before this many epochs.

    Example:
        >>> stopper = EarlyStopping("val_loss", patience=5)
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", patience: int = 10,
                 min_delta: float = 0.0, restore_best: bool = True, min_epochs: int = 0):
        self.watch = Monitor(monitor, mode, min_delta)
        self.patience = patience
        self.restore_best = restore_best
        self.min_epochs = min_epochs
        self.wait = 0
        self.best_weights = None

    def on_train_begin(self, trainer) -> None:
        if trainer.state.epoch == 0:  # a fresh fit, not a resume: forget any earlier one
            self.watch.reset()
            self.wait = 0
            self.best_weights = None

    def on_epoch_end(self, trainer, record: dict) -> None:
        if self.watch.update(record):
            self.wait = 0
            if self.restore_best:
                self.best_weights = copy.deepcopy(trainer.model.state_dict())
            return
        self.wait += 1
        if self.wait >= self.patience and record["epoch"] >= self.min_epochs:
            trainer.state.stop_training = True
            trainer.state.stop_reason = (
                f"early stopping: {self.watch.monitor} did not improve for {self.wait} epochs "
                f"(best {self.watch.best:.6g} at epoch {self.watch.best_epoch})")

    def on_train_end(self, trainer) -> None:
        state = trainer.state
        if not self.restore_best or self.best_weights is None or state.interrupted:
            return
        # Ended right after the best epoch: the model has those weights already. Loading them
        # again would change nothing but the tensors' version counters, and the final
        # evaluation could then no longer read the last validation pass's outputs.
        if self.watch.best_epoch == state.epoch and state.batch_in_epoch == 0:
            return
        trainer.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {**self.watch.state_dict(), "wait": self.wait, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict) -> None:
        self.watch.load_state_dict(state)
        self.wait = state["wait"]
        self.best_weights = state["best_weights"]
