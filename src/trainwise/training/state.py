"""TrainState: every counter and accumulator the loop owns, so a checkpoint can hold it all."""

from __future__ import annotations

import math
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
    # This epoch's optimizer steps so far, kept as they came and reduced once, when the epoch
    # ends: a list append per step instead of arithmetic on the device. Saved mid-epoch as they
    # are, so a resumed epoch is reduced exactly as a straight one. Each is a 0-d device
    # tensor, or a number where the step ran on the CPU (read at once, Trainer._accumulate).
    step_losses: list[torch.Tensor | float] = field(default_factory=list)  # each step's mean loss
    step_metric_sums: list[torch.Tensor | float] = field(default_factory=list)  # metric sums
    step_rows: list[int] = field(default_factory=list)  # each step's rows
    batch_losses: list[torch.Tensor | float] = field(default_factory=list)  # logged steps'
    grad_norm: torch.Tensor | None = None  # gradient norm on this epoch's first batch
    epoch_seconds: float = 0.0  # time spent in this epoch before an interrupt
    epoch_lr: float | None = None  # the rate of this epoch's first optimizer step (history's lr)
    batch_lrs: list[float] = field(default_factory=list)  # each step's rate (step schedules)

    def reset_epoch_accumulators(self) -> None:
        self.step_losses, self.step_metric_sums, self.step_rows = [], [], []
        self.batch_losses = []
        self.batch_lrs = []
        self.epoch_lr = None
        self.grad_norm = None
        self.epoch_seconds = 0.0

    def read_epoch(self, named: dict[str, torch.Tensor], batch_losses: bool
                   ) -> tuple[float, float, dict[str, float], list[float]]:
        """The epoch's numbers in one read from the device, added up on the host.

        Read together: every step's loss and metric sum, the ``named`` 0-d tensors
        (validation values, gradient norm, values callbacks logged) and, with
        ``batch_losses``, the logged steps' losses. Steps are added up in order, in Python
        floats, so an epoch resumed in its middle (its steps so far saved as they came) adds
        up exactly as a straight one.

        Returns:
            The training loss and metric (means over the epoch's rows), ``named`` as floats,
            and the logged steps' losses.
        """
        steps, logged = len(self.step_losses), self.batch_losses if batch_losses else []
        values = as_numbers([*self.step_losses, *self.step_metric_sums, *named.values(),
                             *logged])
        losses, metric_sums = values[:steps], values[steps:2 * steps]
        rows = sum(self.step_rows)
        loss_sum = sum(loss * count for loss, count in zip(losses, self.step_rows))
        return (loss_sum / rows, sum(metric_sums) / rows,
                dict(zip(named, values[2 * steps:2 * steps + len(named)])),
                values[2 * steps + len(named):])

    def state_dict(self) -> dict:
        """Plain data and tensors only: loadable with ``torch.load(weights_only=True)``."""
        return {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "batch_in_epoch": self.batch_in_epoch,
            "history": self.history,
            "batch_history": batch_columns(self.batch_history),
            "stop_training": self.stop_training,
            "stop_reason": self.stop_reason,
            "step_losses": _stacked(self.step_losses),
            "step_metric_sums": _stacked(self.step_metric_sums),
            "step_rows": self.step_rows,
            "batch_losses": _stacked(self.batch_losses),
            "grad_norm": self.grad_norm,
            "epoch_seconds": self.epoch_seconds,
            "epoch_lr": self.epoch_lr,
            "batch_lrs": self.batch_lrs,
        }

    @classmethod
    def from_state_dict(cls, saved: dict) -> TrainState:
        state = cls(**_steps_from_running_sums(saved))
        state.batch_history = batch_rows(state.batch_history)
        for name in ("step_losses", "step_metric_sums", "batch_losses"):
            setattr(state, name, _unstacked(getattr(state, name)))
        return state


def as_numbers(values: list[torch.Tensor | float]) -> list[float]:
    """0-d tensors and numbers as numbers, the tensors read in one stack and one transfer.

    The stack promotes them to one type (integer counts to float), as the numbers they are.
    """
    tensors = [value for value in values if isinstance(value, torch.Tensor)]
    read = iter(torch.stack(tensors).tolist() if tensors else ())
    return [next(read) if isinstance(value, torch.Tensor) else value for value in values]


def as_float64(values: list[torch.Tensor | float]) -> torch.Tensor:
    """``values`` (0-d tensors or numbers) as one float64 tensor on the CPU."""
    return torch.tensor(as_numbers(values), dtype=torch.float64)


def _stacked(values: list[torch.Tensor | float]) -> torch.Tensor | list:
    """A list of 0-d tensors (or numbers) as one tensor, for the checkpoint: an interrupt in
    the middle of a long epoch (a streamed one has thousands of steps) writes one storage, not
    thousands. Numbers go as float64, which holds float32 losses and counts exactly."""
    if not values:
        return []
    if all(isinstance(value, torch.Tensor) for value in values):
        return torch.stack(values)
    return as_float64(values)


def _unstacked(saved: torch.Tensor | list) -> list[torch.Tensor]:
    """``_stacked`` back to a list (older checkpoints hold the list itself)."""
    return list(saved.unbind()) if isinstance(saved, torch.Tensor) else list(saved)


def batch_columns(rows: list[dict]) -> dict[str, torch.Tensor]:
    """``batch_history`` as one tensor per column, for the checkpoint.

    A row per optimizer step makes tens of thousands of small dicts, which took ~20 ms to
    pickle into every ``last.pt`` and ~100 ms to read back; four tensors take well under one.
    ``lr`` (kept by step schedules only) is NaN in rows without it.
    """
    return {"step": torch.tensor([row["step"] for row in rows], dtype=torch.int64),
            "epoch": torch.tensor([row["epoch"] for row in rows], dtype=torch.int64),
            "loss": torch.tensor([row["loss"] for row in rows], dtype=torch.float64),
            "lr": torch.tensor([row.get("lr", math.nan) for row in rows], dtype=torch.float64)}


def batch_rows(columns: dict[str, torch.Tensor] | list[dict]) -> list[dict]:
    """``batch_columns`` back to rows (older checkpoints hold the rows themselves)."""
    if isinstance(columns, list):
        return columns
    names = ("step", "epoch", "loss", "lr")
    rows = []
    for step, epoch, loss, lr in zip(*(columns[name].tolist() for name in names)):
        row = {"step": step, "epoch": epoch, "loss": loss}
        if not math.isnan(lr):
            row["lr"] = lr
        rows.append(row)
    return rows


def _steps_from_running_sums(saved: dict) -> dict:
    """``saved`` with the running sums of older checkpoints turned into one step entry.

    Checkpoints written before the per-step lists kept ``loss_sum`` (of loss x rows),
    ``metric_sum`` and ``rows_seen``; mid-epoch, the steps they cover become one entry with
    their mean loss, so the epoch's numbers come out the same (up to rounding).
    """
    saved = dict(saved)
    loss_sum, metric_sum = saved.pop("loss_sum", None), saved.pop("metric_sum", None)
    rows = saved.pop("rows_seen", 0)
    if loss_sum is not None and rows:
        saved.update(step_losses=[loss_sum / rows], step_metric_sums=[metric_sum],
                     step_rows=[rows])
    return saved
