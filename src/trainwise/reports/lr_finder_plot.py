"""The LR range test's curve: loss against learning rate, with the suggestions marked."""

from __future__ import annotations

import math
from pathlib import Path

from trainwise.reports.figure import log_scale_if_wide, new_figure, save_figure

MARKERS = {"valley": ("o", "C2"), "steepest": ("v", "C1"), "min_over_10": ("s", "C3")}


def plot_lr_finder(result, path: str | Path) -> Path:
    """Raw losses faint, the smoothed curve solid, each suggestion marked; the chosen one named.

    Args:
        result: an ``LRFinderResult`` (or anything with lrs, losses, smoothed, suggestions,
            chosen, rule, reason).
        path: the PNG to write.
    """
    figure, axis = new_figure(7.0, 4.4)
    finite = [(lr, loss) for lr, loss in zip(result.lrs, result.losses) if math.isfinite(loss)]
    if finite:
        axis.plot(*zip(*finite), color="C0", alpha=0.25, linewidth=1, label="loss per step")
    smooth = [(lr, loss) for lr, loss in zip(result.lrs, result.smoothed) if math.isfinite(loss)]
    if smooth:
        axis.plot(*zip(*smooth), color="C0", linewidth=2, label="smoothed")
    for rule, lr in result.suggestions.items():
        if lr is None:
            continue
        marker, colour = MARKERS[rule]
        y = _smoothed_at(lr, smooth)
        chosen = " (chosen)" if rule == result.rule and result.chosen else ""
        axis.plot([lr], [y], marker, color=colour, markersize=9, label=f"{rule}: {lr:.2g}{chosen}")
    axis.set_xscale("log")
    log_scale_if_wide(axis, [loss for _, loss in smooth])
    if smooth:
        # Frame the smoothed curve; the raw spike where training blows up would flatten it.
        values = [loss for _, loss in smooth]
        lowest = values.index(min(values))
        low, high = values[lowest], max(values[:lowest + 1])
        axis.set_ylim(low - 0.05 * (high - low), high + 0.15 * (high - low))
    axis.set_xlabel("learning rate (log scale)")
    axis.set_ylabel("training loss")
    axis.set_title("LR range test" if result.chosen else "LR range test: " + result.reason[:60])
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    return save_figure(figure, path)


def _smoothed_at(lr: float, curve: list[tuple[float, float]]) -> float:
    """The smoothed loss at the recorded rate closest to ``lr``."""
    return min(curve, key=lambda point: abs(math.log(point[0]) - math.log(lr)))[1] if curve else 0.0
