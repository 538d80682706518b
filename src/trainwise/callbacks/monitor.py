"""One place that watches a history key and decides what counts as an improvement."""

from __future__ import annotations

import math

from trainwise.errors import UserError

# Keys where bigger is better; everything else (losses, errors) is minimised.
MAXIMISED_KEYS = ("accuracy", "f1", "r2", "auc", "precision", "recall")


def resolve_mode(monitor: str, mode: str) -> str:
    """'min' or 'max' for ``monitor``; 'auto' picks max for accuracy-like keys."""
    if mode != "auto":
        return mode
    return "max" if any(key in monitor for key in MAXIMISED_KEYS) else "min"


class Monitor:
    """Tracks the best value of one history key.

    Args:
        monitor: the history key, e.g. "val_loss".
        mode: "min", "max" or "auto".
        min_delta: an improvement must beat the best by more than this.

    Example:
        >>> watch = Monitor("val_loss", "auto", min_delta=0.01)
        >>> [watch.update({"epoch": e, "val_loss": v}) for e, v in enumerate([1.0, 0.995, 0.9], 1)]
        [True, False, True]
    """

    def __init__(self, monitor: str, mode: str = "auto", min_delta: float = 0.0):
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode)
        self.min_delta = min_delta
        self.reset()

    def reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0

    def value(self, record: dict) -> float:
        if self.monitor not in record:
            keys = ", ".join(key for key in record if key != "epoch")
            raise UserError(f"train.early_stopping.monitor: '{self.monitor}' is not in the "
                            f"history; available keys are: {keys}. Pick one of those.")
        return record[self.monitor]

    def update(self, record: dict) -> bool:
        """Record the epoch's value; True if it improved on the best by more than min_delta."""
        value = self.value(record)
        if math.isnan(value):
            return False
        better = (value < self.best - self.min_delta if self.mode == "min"
                  else value > self.best + self.min_delta)
        if better:
            self.best, self.best_epoch = value, record["epoch"]
        return better

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
