"""A run's record as ONE self-contained HTML file: inline CSS, plots embedded as data: URIs,
nothing fetched from anywhere, so it can be mailed, archived or opened offline.

Example:
    >>> write_report("runs/20261121-101500-auto_mpg")                 # doctest: +SKIP
    PosixPath('runs/20261121-101500-auto_mpg/report.html')
"""

from __future__ import annotations

import base64
import math
from numbers import Integral, Real
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from trainwise.atomic import write_text_atomic
from trainwise.reports.plots import draw_missing_plots, planned_plots
from trainwise.reports.report_context import report_context
from trainwise.tracking.run_dir import RunDirectory

REPORT_FILE = "report.html"
TEMPLATE = "report.html"
CONFUSION_PREFIX = "confusion_"
TOP_LOSSES_PLOT = "top_losses.png"  # shown in the top-losses section, beside its table
# Captions for the plots, by file name.
CURVE_CAPTIONS = {
    "loss.png": "Loss per epoch, training and validation.",
    "mae.png": "Mean absolute error per epoch, in the target's units.",
    "accuracy.png": "Accuracy per epoch, training and validation.",
    "dead_units.png": "Share of hidden ReLU units that are zero for every validation row.",
    "lr.png": "Learning rate over optimizer steps.",
    "grad_norm.png": "Gradient norm of each epoch's first batch, before clipping (log scale).",
}
PREDICTION_CAPTIONS = {
    "predicted_vs_actual.png": "Predicted against actual values; the dashed line is a perfect "
                               "prediction.",
    "residuals.png": "Residuals (actual − predicted) against the prediction; an even band "
                     "around zero is what a good fit looks like.",
}


def write_report(run_path: str | Path, output: str | Path | None = None) -> Path:
    """Render the run's report and write it atomically.

    Args:
        run_path: the run directory.
        output: where the HTML goes (default: ``report.html`` in the run directory).

    Returns:
        The path written.
    """
    path = Path(output) if output is not None else Path(run_path) / REPORT_FILE
    write_text_atomic(path, render_report(run_path))
    return path


def render_report(run_path: str | Path) -> str:
    """The report as one HTML string, drawing any plot that is missing first.

    Args:
        run_path: the run directory.

    Returns:
        The HTML, with every text escaped and every image inline.
    """
    run_dir = RunDirectory(run_path)
    draw_missing_plots(run_dir.path)
    context = report_context(run_dir)
    images = {path.name: png_data_uri(path) for path in planned_plots(run_dir.path)
              if path.is_file()}
    context["curves"], context["prediction_plots"] = _figures(images)
    for table in context["confusion"]:
        table["image"] = images.get(f"{CONFUSION_PREFIX}{table['split']}.png")
    if context["top_losses"] is not None:
        context["top_losses"]["image"] = images.get(TOP_LOSSES_PLOT)
    return _environment().get_template(TEMPLATE).render(**context)


def png_data_uri(path: str | Path) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI, for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def format_number(value) -> str:
    """Numbers for people: ints with thousands separators, floats to 4 significant digits.

    Example:
        >>> format_number(4865), format_number(0.046552192), format_number(None)
        ('4,865', '0.04655', '–')
    """
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, Real):
        return str(value)
    if isinstance(value, Integral):
        return f"{value:,}"
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}"


def _figures(images: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """The curve plots and the prediction plots, each with its caption and data URI, in the
    order ``write_plots`` draws them. A curve without a known caption (a metric added later)
    still shows, with a plain one."""
    curves, predictions = [], []
    for name, src in images.items():
        if name.startswith(CONFUSION_PREFIX) or name == TOP_LOSSES_PLOT:
            continue  # shown beside their tables
        if name in PREDICTION_CAPTIONS:
            predictions.append({"name": name, "caption": PREDICTION_CAPTIONS[name], "src": src})
        else:
            caption = CURVE_CAPTIONS.get(name, f"{Path(name).stem} per epoch.")
            curves.append({"name": name, "caption": caption, "src": src})
    return curves, predictions


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("trainwise.reports", "templates"),
        autoescape=True,  # every value is text from the run's files; none of it is markup
        undefined=StrictUndefined,  # a misspelt name fails the render, not the reader
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = format_number
    return environment
