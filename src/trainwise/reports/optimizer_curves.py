"""The optimizer's side of training as PNG files: the learning rate over optimizer steps and
the gradient norm per epoch."""

from __future__ import annotations

import math
from pathlib import Path

from trainwise.reports.figure import (
    log_scale_if_wide,
    log_y,
    mark_best_epoch,
    new_figure,
    save_figure,
)


def epoch_end_steps(history: list[dict], batch_history: list[dict] | None = None,
                    global_step: int | None = None) -> tuple[list[int], str]:
    """The optimizer step at which each epoch of ``history`` ended.

    Args:
        history: the run's per-epoch records.
        batch_history: ``batch_history.csv`` rows (step, epoch, loss), when the run kept them:
            exact even when epochs had different numbers of batches.
        global_step: the run's total number of steps (``status.json``), used to spread the
            steps evenly over the epochs when there is no batch history.

    Returns:
        ``(steps, unit)``: the step count at the end of each epoch and the x axis' name.
        Without either source the steps are the epoch numbers and the unit is ``"epoch"``.
    """
    epochs = [int(record["epoch"]) for record in history]
    last_step: dict[int, int] = {}
    for row in batch_history or []:
        epoch, step = int(row["epoch"]), int(row["step"])
        last_step[epoch] = max(step, last_step.get(epoch, step))
    if epochs and all(epoch in last_step for epoch in epochs):
        return [last_step[epoch] for epoch in epochs], "optimizer step"
    if epochs and global_step:
        per_epoch = global_step / epochs[-1]
        return [round(epoch * per_epoch) for epoch in epochs], "optimizer step"
    return epochs, "epoch"


def plot_learning_rate(history: list[dict], end_steps: list[int], x_label: str,
                       path: str | Path, best_epoch: int | None = None,
                       step_rates: list[tuple[int, float]] | None = None) -> Path:
    """The learning rate as a staircase over optimizer steps, as a PNG.

    The history holds the rate of each epoch's first step (epoch schedules hold it for the
    whole epoch), so each epoch's rate is drawn flat from the end of the previous epoch to the
    end of its own. Step schedules (warmup, cyclic, one-cycle) log every step's rate in
    ``batch_history.csv``; given as ``step_rates``, those are drawn instead.

    Args:
        history: the run's per-epoch records (``lr`` in each).
        end_steps: the step at which each epoch ended (see ``epoch_end_steps``).
        x_label: the x axis' name, ``"optimizer step"`` or ``"epoch"``.
        path: the PNG to write.
        best_epoch: the end of that epoch is marked when given.
        step_rates: ``(step, lr)`` of every optimizer step, when the run logged them.

    Returns:
        ``path``.
    """
    rates = [record.get("lr") for record in history]
    rates = [float("nan") if rate is None else rate for rate in rates]
    # Where the first epoch began: step 0 for a history from epoch 1, as every run's is.
    first_epoch = int(history[0]["epoch"])
    start = end_steps[0] - end_steps[0] / first_epoch
    figure, axis = new_figure()
    if step_rates:
        steps, rates = zip(*step_rates)
        axis.plot(steps, rates, "-", label="learning rate (per step)")
    else:
        # A line drawn as steps, not ``stairs``: its patch updates the data limits one Bézier
        # segment at a time in Python: a quarter of this plot's time for a 700-epoch run.
        axis.plot([start, *end_steps], [*rates, rates[-1]], drawstyle="steps-post",
                  label="learning rate")
    log_scale = log_scale_if_wide(axis, rates)
    epochs = [int(record["epoch"]) for record in history]
    best_x = end_steps[epochs.index(best_epoch)] if best_epoch in epochs else None
    mark_best_epoch(axis, best_x, best_epoch, "end of best epoch")
    axis.set_xlabel(x_label)
    if x_label != "epoch":
        _epoch_axis_on_top(axis, end_steps[-1] / epochs[-1])
    axis.set_ylabel("learning rate (log scale)" if log_scale else "learning rate")
    axis.set_title(f"learning rate per {x_label}", loc="left")
    axis.grid(alpha=0.3)
    axis.legend()
    return save_figure(figure, path)


def plot_grad_norm(history: list[dict], path: str | Path, best_epoch: int | None = None) -> Path:
    """The gradient norm per epoch on a log axis, as a PNG.

    The trainer measures it on each epoch's first batch, before clipping: exploding gradients
    show as a climb over orders of magnitude, vanishing ones as a fall, hence the log axis.

    Args:
        history: the run's per-epoch records (``grad_norm`` in each).
        path: the PNG to write.
        best_epoch: marked with a dotted line when given.

    Returns:
        ``path``.
    """
    epochs = [record["epoch"] for record in history]
    norms = [record.get("grad_norm") for record in history]
    # Log axes cannot show zero, None or NaN; leave gaps there instead of warnings.
    drawn = [_positive_or_gap(value) for value in norms]
    figure, axis = new_figure()
    axis.plot(epochs, drawn, "-", marker="." if len(epochs) < 30 else None,
              label="gradient norm (first batch, before clipping)")
    if any(math.isfinite(value) for value in drawn):
        log_y(axis)
    mark_best_epoch(axis, best_epoch, best_epoch)
    axis.set_xlabel("epoch")
    axis.set_ylabel("gradient L2 norm (log scale)")
    axis.set_title("gradient norm per epoch")
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    return save_figure(figure, path)


def _epoch_axis_on_top(axis, steps_per_epoch: float) -> None:
    """Epochs along the top edge, so a step can be matched with the other plots' epochs."""
    top = axis.secondary_xaxis("top", functions=(lambda step: step / steps_per_epoch,
                                                 lambda epoch: epoch * steps_per_epoch))
    top.set_xlabel("epoch")


def _positive_or_gap(value) -> float:
    """``value`` when a log axis can show it, else NaN (a gap in the line)."""
    if value is None or not math.isfinite(value) or value <= 0:
        return float("nan")
    return float(value)
