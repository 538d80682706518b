"""A sweep's curves on one axis: every member's monitored value per epoch, one colour per grid
point (its seeds share the colour), so the points compare at a glance."""

from __future__ import annotations

from pathlib import Path

import matplotlib

from trainwise.reports.figure import log_scale_if_wide, new_figure, save_figure


def plot_sweep_overlay(curves: list[tuple[str, int, list[int], list[float]]], key: str,
                       path: str | Path) -> Path:
    """Draw the members' curves of ``key``.

    Args:
        curves: per member ``(point label, point number, epochs, values)``.
        key: the history key drawn (the label of the y axis).
        path: the PNG to write.

    Returns:
        ``path``.
    """
    figure, axis = new_figure(7.2, 4.4)
    palette = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]  # one per point
    by_point: dict[int, str] = {}
    values = []
    for label, point, epochs, series in curves:
        first = point not in by_point
        if first:
            by_point[point] = palette[len(by_point) % len(palette)]
        axis.plot(epochs, series, color=by_point[point], linewidth=1.2, alpha=0.85,
                  label=label if first else None)
        values += series
    log_scale = log_scale_if_wide(axis, values)
    axis.set_xlabel("epoch")
    axis.set_ylabel(f"{key} (log scale)" if log_scale else key)
    axis.set_title(f"{key} per epoch, every member of the sweep")
    axis.grid(alpha=0.3)
    if len(by_point) <= 12:
        axis.legend(fontsize="small")
    return save_figure(figure, path)
