"""What every PNG plot shares: a figure with a known size, the log-scale rule, the best-epoch
mark, and an atomic save.

This module owns matplotlib's backend choice and pyplot, so the drawing modules never touch
global matplotlib state themselves.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import LogFormatter  # noqa: E402

from trainwise.atomic import write_atomic  # noqa: E402

# Use a log axis when a curve's values span more than this factor.
LOG_SCALE_SPAN = 50.0
DPI = 110
BEST_EPOCH_STYLE = {"color": "grey", "linestyle": ":"}


def new_figure(width: float = 6.4, height: float = 4.0):
    """A figure with one axis, laid out so labels never overlap or get cut off.

    Returns:
        ``(figure, axis)``.
    """
    # Constrained layout instead of tight_layout: it never warns, and warnings fail the tests.
    return plt.subplots(figsize=(width, height), dpi=DPI, layout="constrained")


def save_figure(figure, path: str | Path) -> Path:
    """Write ``figure`` as a PNG atomically (like every run file) and free it.

    Returns:
        The path written.
    """
    path = Path(path)
    try:
        write_atomic(path, lambda handle: figure.savefig(handle, format="png"))
    finally:
        plt.close(figure)
    return path


def finite(values: Iterable) -> list[float]:
    """The values that are real numbers: no None, NaN or infinity."""
    return [float(value) for value in values
            if value is not None and math.isfinite(float(value))]


def spans_orders_of_magnitude(values: Iterable) -> bool:
    """Whether a log axis reads better: all finite values positive, max/min > LOG_SCALE_SPAN."""
    values = finite(values)
    positive = [value for value in values if value > 0]
    return bool(positive) and len(positive) == len(values) and \
        max(positive) / min(positive) > LOG_SCALE_SPAN


def log_scale_if_wide(axis, values: Iterable) -> bool:
    """Switch the y axis to log when the values span orders of magnitude.

    Returns:
        Whether it did, so the axis label can say so.
    """
    wide = spans_orders_of_magnitude(values)
    if wide:
        log_y(axis)
    return wide


def log_y(axis) -> None:
    """A log y axis with ticks as plain numbers ("0.3", "2") instead of "3 x 10^-1"."""
    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(_PlainLogFormatter())
    axis.yaxis.set_minor_formatter(_PlainLogFormatter(minor_thresholds=(2, 0.5)))


class _PlainLogFormatter(LogFormatter):
    """matplotlib's log-axis labels (it picks which ticks to label), written "0.6", not "6e-01"."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:g}"


def mark_best_epoch(axis, x: float | None, best_epoch: int | None,
                    what: str = "best epoch") -> None:
    """A dotted vertical line at ``x`` labelled with the best epoch (nothing without one).

    Args:
        axis: the plot's axis.
        x: where the line goes in the axis' units (the epoch, or the step it ended at).
        best_epoch: the epoch, for the legend.
        what: the legend's words before the epoch.
    """
    if best_epoch and x is not None:
        axis.axvline(x, **BEST_EPOCH_STYLE, label=f"{what} ({best_epoch})")
