"""What every PNG plot shares: a figure with a known size, margins fitted to its labels, the
log-scale rule, the best-epoch mark, and an atomic save.

This module owns matplotlib's backend choice and pyplot, so the drawing modules never touch
global matplotlib state themselves.

A plot costs matplotlib tens of milliseconds, most of them in ticks and text, and every fit
draws several; so a figure is measured once and drawn once (see ``fit_margins``), and its PNG
is encoded straight from the drawn pixels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import LogFormatter  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402
from PIL import Image  # noqa: E402

from trainwise.atomic import write_atomic  # noqa: E402

# Use a log axis when a curve's values span more than this factor.
LOG_SCALE_SPAN = 50.0
DPI = 110
BEST_EPOCH_STYLE = {"color": "grey", "linestyle": ":"}
LAYOUTS = ("fit", "constrained")
# Blank space between the outermost label and the figure's edge, in inches.
EDGE_PAD_INCHES = 0.06
# zlib level of the PNGs: these flat-coloured plots come out within 3 % of the size of the
# default level 6 in about 70 % of its time; level 1 is hardly faster and 2 % larger again.
PNG_COMPRESS_LEVEL = 3
# A margin never takes more than this share of the figure, however long a label.
MAX_MARGIN = 0.45
# At most this many intervals between ticks on a linear axis (matplotlib's "auto" makes up
# to ~9 on these sizes). Ticks are most of a plot's cost (each is two lines, a label and a
# grid line, laid out and drawn); five or six still read at a glance.
TICK_BINS = 5


def new_figure(width: float = 6.4, height: float = 4.0, layout: str = "fit"):
    """A figure with one axis, laid out so labels never overlap or get cut off.

    Args:
        width: inches.
        height: inches.
        layout: "fit": ``save_figure`` fits the margins to the axes' labels, ticks and
            titles in one measuring pass (``fit_margins``). "constrained": matplotlib's
            constrained layout (two measuring passes), for what only it places: a figure
            legend outside the axes (``figure.legend(loc="outside ...")``).

    Returns:
        ``(figure, axis)``.

    Raises:
        ValueError: an unknown ``layout``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    # A plain Figure, not pyplot's: no global registry holds it, so none can pile up.
    # Neither layout uses tight_layout, which warns, and warnings fail the tests.
    figure = Figure(figsize=(width, height), dpi=DPI,
                    layout="constrained" if layout == "constrained" else None)
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    axis.locator_params(nbins=TICK_BINS)  # linear axes; a log scale brings its own locator
    return figure, axis


def fit_margins(figure, pad_inches: float = EDGE_PAD_INCHES) -> None:
    """Set the subplot margins so every axis' ticks, labels and title end ``pad_inches``
    inside the figure.

    One measuring pass: the ticks and text extents it makes are reused by the drawing pass
    that follows, so it adds about 10 ms to a plot (constrained layout measures twice, and
    ``savefig`` then draws twice). Margins are taken from the axes' boxes as drawn (after a
    fixed aspect shrank them), so an equal-aspect plot is centred in the room left, never
    clipped. Several axes (an image and its colorbar) are fitted as one block. Figure
    legends and texts are not seen: use ``new_figure(layout="constrained")`` for those.

    Args:
        figure: a figure without a layout engine.
        pad_inches: blank space kept at each edge.
    """
    renderer = figure.canvas.get_renderer()
    ink = [axis.get_tightbbox(renderer) for axis in figure.axes]  # display pixels
    ink = [box for box in ink if box is not None and box.width > 0]
    if not ink:
        return
    ink = Bbox.union(ink)
    boxes = Bbox.union([axis.get_window_extent(renderer) for axis in figure.axes])
    width, height = figure.bbox.width, figure.bbox.height
    pad = pad_inches * figure.dpi
    left = min((boxes.x0 - ink.x0 + pad) / width, MAX_MARGIN)
    right = min((ink.x1 - boxes.x1 + pad) / width, MAX_MARGIN)
    bottom = min((boxes.y0 - ink.y0 + pad) / height, MAX_MARGIN)
    top = min((ink.y1 - boxes.y1 + pad) / height, MAX_MARGIN)
    figure.subplots_adjust(left=left, right=1 - right, bottom=bottom, top=1 - top)


def save_figure(figure, path: str | Path) -> Path:
    """Draw ``figure`` once and write it as a PNG atomically (like every run file); free it.

    A figure without a layout engine gets its margins fitted first (``fit_margins``). The
    PNG is RGB: the figure's background is opaque, so an alpha channel would only add bytes.

    Returns:
        The path written.
    """
    path = Path(path)
    try:
        if figure.get_layout_engine() is None and figure.axes:
            fit_margins(figure)
        figure.canvas.draw()  # runs a layout engine, if any, once
        size = figure.canvas.get_width_height(physical=True)
        pixels = Image.frombuffer("RGBA", size, figure.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        image = pixels.convert("RGB")
        write_atomic(path, lambda handle: image.save(handle, format="png",
                                                     compress_level=PNG_COMPRESS_LEVEL,
                                                     dpi=(figure.dpi, figure.dpi)),
                     durable=False)  # redrawn from the run's files whenever missing
    finally:
        plt.close(figure)  # a no-op for our own figures; frees pyplot ones (compare.py)
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
