"""TrainState: every counter and accumulator the loop owns, so a checkpoint can hold it all."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class TrainState:
    """Where training stands. Saved whole in every checkpoint; restored whole on resume.

    The epoch accumulators live on the device and are read once per epoch; they are part of
    the state so an interrupt in the middle of an epoch resumes at the next batch exactly.
    """

    epoch: int = 0  # epochs completed
    global_step: int = 0  # optimizer steps taken (one per `accumulate` batches)
    batch_in_epoch: int = 0  # batches done in the current epoch (0 at an epoch boundary)
    history: list[dict] = field(default_factory=list)  # one plain dict per finished epoch
    batch_history: list[dict] = field(default_factory=list)  # {"step", "epoch", "loss"[, "lr"]}
    stop_training: bool = False  # set by callbacks (early stopping) to end after this epoch
    stop_reason: str | None = None  # why training ended early, in words
    interrupted: bool = False  # set by Ctrl-C (or Stop); the loop ends after the current batch
    # Current-epoch accumulators (device tensors; None before the epoch's first batch).
    loss_sum: torch.Tensor | None = None  # sum of per-row training loss
    metric_sum: torch.Tensor | None = None  # sum of per-row metric (abs error or correct)
    rows_seen: int = 0  # rows in the accumulators
    batch_losses: list[torch.Tensor] = field(default_factory=list)  # this epoch's batch losses
    grad_norm: torch.Tensor | None = None  # gradient norm on this epoch's first batch
    epoch_seconds: float = 0.0  # time spent in this epoch before an interrupt
    epoch_lr: float | None = None  # the rate of this epoch's first optimizer step (history's lr)
    batch_lrs: list[float] = field(default_factory=list)  # each step's rate (step schedules)

    def reset_epoch_accumulators(self) -> None:
        self.loss_sum = self.metric_sum = None
        self.rows_seen = 0
        self.batch_losses = []
        self.batch_lrs = []
        self.epoch_lr = None
        self.grad_norm = None
        self.epoch_seconds = 0.0

    def state_dict(self) -> dict:
        """Plain data and tensors only: loadable with ``torch.load(weights_only=True)``."""
        return {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "batch_in_epoch": self.batch_in_epoch,
            "history": self.history,
            "batch_history": self.batch_history,
            "stop_training": self.stop_training,
            "stop_reason": self.stop_reason,
            "loss_sum": self.loss_sum,
            "metric_sum": self.metric_sum,
            "rows_seen": self.rows_seen,
            "batch_losses": self.batch_losses,
            "grad_norm": self.grad_norm,
            "epoch_seconds": self.epoch_seconds,
            "epoch_lr": self.epoch_lr,
            "batch_lrs": self.batch_lrs,
        }

    @classmethod
    def from_state_dict(cls, saved: dict) -> TrainState:
        return cls(**saved)
