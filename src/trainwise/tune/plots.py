"""A study's two pictures, drawn with matplotlib (Optuna's own need plotly): the value of
every trial in order with the best so far, and every trial's monitored curve per epoch, the
pruned ones dashed, so where the pruner cut them shows."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from trainwise.reports.figure import log_scale_if_wide, new_figure, save_figure

STATE_STYLE = {"finished": ("tab:blue", "-"), "pruned": ("tab:gray", "--")}


def plot_history(table: pd.DataFrame, direction: str, monitor: str, path: Path) -> Path:
    """Trial number → value (completed dots, pruned crosses) and the best so far (a step)."""
    figure, axis = new_figure(7.2, 4.4)
    done = table[table["state"] == "complete"]
    pruned = table[table["state"] == "pruned"]
    axis.scatter(done["trial"], done["value"], color="tab:blue", s=18, label="completed")
    axis.scatter(pruned["trial"], pruned["value"], color="tab:gray", marker="x", s=18,
                 label="pruned (last reported value)")
    best = done["value"].cummin() if direction == "minimize" else done["value"].cummax()
    axis.step(done["trial"], best, where="post", color="tab:red", label="best so far")
    return _finish(figure, axis, list(table["value"]), "trial", monitor,
                   f"optimisation history ({direction})", path)


def plot_trial_curves(curves: list[tuple[int, str, list[int], list[float]]], monitor: str,
                      path: Path) -> Path:
    """Every trial's ``monitor`` per epoch: (trial number, how it ended, epochs, values)."""
    figure, axis = new_figure(7.2, 4.4)
    values = []
    for number, ended, epochs, series in curves:
        color, style = STATE_STYLE.get(ended, ("tab:orange", ":"))
        axis.plot(epochs, series, color=color, linestyle=style, linewidth=1.1, alpha=0.8)
        if epochs:
            axis.annotate(str(number), (epochs[-1], series[-1]), fontsize="x-small")
        values += series
    for ended, (color, style) in STATE_STYLE.items():
        axis.plot([], [], color=color, linestyle=style, label=ended)
    return _finish(figure, axis, values, "epoch", monitor,
                   f"{monitor} per epoch, every trial (numbered at its last epoch)", path)


def _finish(figure, axis, values: list[float], x_label: str, monitor: str, title: str,
            path: Path) -> Path:
    """The y scale (log when the values span widely), labels, grid and legend; then save."""
    log_scale = log_scale_if_wide(axis, [value for value in values if not math.isnan(value)])
    axis.set_xlabel(x_label)
    axis.set_ylabel(f"{monitor} (log scale)" if log_scale else monitor)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    return save_figure(figure, path)
