"""Is a probabilistic regression's variance honest? Reliability curve, PIT histogram, and
predicted against site variance, as PNGs.

All three read the same arrays the metrics do (``probabilistic_metrics``): the observed
values and the predicted Normal per row, in the target's own units.

Example:
    >>> write_calibration_plots("runs/x/plots", y, mean, variance)       # doctest: +SKIP
    [PosixPath('runs/x/plots/calibration_reliability.png'), PosixPath('.../calibration_pit.png')]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import FuncFormatter

from trainwise.tasks.probabilistic.metrics import (
    CURVE_LEVELS,
    check_prediction,
    coverage_curve,
    pit_values,
    variance_agreement,
)
from trainwise.reports.figure import new_figure, save_figure

RELIABILITY_PLOT = "calibration_reliability.png"
PIT_PLOT = "calibration_pit.png"
VARIANCE_PLOT = "calibration_variance.png"

POINT_STYLE = {"s": 14, "alpha": 0.6, "edgecolors": "none"}
DIAGONAL_STYLE = {"color": "black", "linewidth": 1, "linestyle": "--"}

# PIT histogram bins: enough to see a U or a hump, few enough that each bin holds ~10+ rows.
MAX_PIT_BINS = 20
MIN_PIT_BINS = 5
ROWS_PER_PIT_BIN = 10


def write_calibration_plots(plots_dir: str | Path, y, mean, variance, site_variance=None, *,
                            target: str = "target", split: str = "test") -> list[Path]:
    """Draw the reliability curve, the PIT histogram and (with site variances) the variance
    scatter into ``plots_dir``.

    Args:
        plots_dir: the folder to write to (created if missing).
        y: (N,) observed values.
        mean: (N,) predicted means.
        variance: (N,) predicted variances, all > 0.
        site_variance: optional (N,) empirical variance of each row's site.
        target: the target column's name, for axis labels.
        split: which split the rows come from, for titles.

    Returns:
        The PNG paths written, in that order. The variance scatter is left out when there are
        no site variances, or none > 0 (a log axis cannot show them).

    Raises:
        ValueError: bad shapes or variances (see ``probabilistic_metrics.check_prediction``).
    """
    plots_dir = Path(plots_dir)
    plots_dir.mkdir(parents=True, exist_ok=True)
    y, mean, variance = check_prediction(y, mean, variance)
    # Checked before drawing anything, so bad site variances raise with nothing half-written.
    draw_sites = site_variance is not None and _any_positive(variance, site_variance)
    paths = [plot_reliability(y, mean, variance, plots_dir / RELIABILITY_PLOT, split=split),
             plot_pit_histogram(y, mean, variance, plots_dir / PIT_PLOT, split=split)]
    if draw_sites:
        paths.append(plot_variance_vs_site(variance, site_variance, plots_dir / VARIANCE_PLOT,
                                           target=target, split=split))
    return paths


def _any_positive(variance: np.ndarray, site_variance) -> bool:
    """Whether any site variance can be drawn on a log axis (after checking them all)."""
    variance_agreement(variance, site_variance)
    return bool(np.any(np.asarray(site_variance, dtype=np.float64) > 0))


def plot_reliability(y, mean, variance, path: str | Path, split: str = "test",
                     levels=CURVE_LEVELS) -> Path:
    """Observed against nominal central-interval coverage, with the diagonal, as a PNG.

    Points on the diagonal: a p % interval holds p % of the rows. Below it the intervals are
    too narrow (over-confident), above it too wide (under-confident).

    Args:
        y, mean, variance: (N,) observed values and the predicted Normal per row.
        path: the PNG to write.
        split: which split the rows come from, for the title.
        levels: the nominal levels in (0, 1).

    Returns:
        ``path``.
    """
    nominal, observed = coverage_curve(y, mean, variance, levels)
    error = float(np.mean(np.abs(observed - nominal)))
    figure, axis = new_figure(5.2, 5.0, layout="constrained")  # legend below: see _legend_below
    axis.plot([0, 1], [0, 1], **DIAGONAL_STYLE, label="calibrated (observed = nominal)")
    axis.plot(nominal, observed, "o-", label=f"{split} rows (n={len(y)})")
    # Say what each side of the diagonal means where the eye lands.
    axis.text(0.03, 0.80, "under-confident\n(intervals too wide)", transform=axis.transAxes,
              va="top", ha="left", color="grey")
    axis.text(0.97, 0.03, "over-confident\n(intervals too narrow)", transform=axis.transAxes,
              va="bottom", ha="right", color="grey")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_aspect("equal")
    axis.set_xlabel("nominal coverage of the central interval")
    axis.set_ylabel("observed share of rows inside it")
    axis.set_title(f"reliability ({split} split), mean |error| {error:.3f}")
    axis.grid(alpha=0.3)
    _legend_below(figure)
    return save_figure(figure, path)


def plot_pit_histogram(y, mean, variance, path: str | Path, split: str = "test") -> Path:
    """Histogram of the PIT values ``Φ((y − μ)/σ)`` with the uniform density, as a PNG.

    Flat: calibrated. U shape (rows piled at 0 and 1): the Normals are too narrow
    (over-confident). Hump in the middle: too wide (under-confident). Skewed: the mean is
    biased. The grey band is where a calibrated model's bars fall 95 % of the time with this
    many rows, so bars inside it are sampling noise.

    Args:
        y, mean, variance: (N,) observed values and the predicted Normal per row.
        path: the PNG to write.
        split: which split the rows come from, for the title.

    Returns:
        ``path``.
    """
    pit = pit_values(y, mean, variance)
    bins = pit_bins(len(pit))
    share = 1 / bins
    # Each bin's count is Binomial(n, 1/bins); as a density, its sd is sqrt((1 - p) / (n p)).
    band = 1.96 * np.sqrt((1 - share) / (len(pit) * share))
    figure, axis = new_figure(layout="constrained")  # legend below: see _legend_below
    axis.hist(pit, bins=bins, range=(0, 1), density=True, alpha=0.7,
              label=f"{split} rows (n={len(pit)})")
    axis.axhspan(max(0.0, 1 - band), 1 + band, color="grey", alpha=0.2,
                 label="calibrated ± sampling noise (95 %)")
    axis.axhline(1, **DIAGONAL_STYLE, label="uniform: calibrated")
    axis.set_xlim(0, 1)
    axis.set_xlabel("PIT = predicted CDF at the observed value")
    axis.set_ylabel("density")
    axis.set_title(f"PIT histogram ({split} split): U = over-, hump = under-confident")
    axis.grid(alpha=0.3)
    _legend_below(figure)
    return save_figure(figure, path)


def _legend_below(figure) -> None:
    """The legend under the axes: inside, some calibration pattern (a U, a hump, points far
    off the diagonal) would always end up hidden behind it."""
    figure.legend(loc="outside lower center", fontsize="small")


def pit_bins(n_rows: int) -> int:
    """Number of PIT bins for ``n_rows``: about 10 rows a bin, between 5 and 20."""
    return int(np.clip(n_rows // ROWS_PER_PIT_BIN, MIN_PIT_BINS, MAX_PIT_BINS))


def plot_variance_vs_site(variance, site_variance, path: str | Path, target: str = "target",
                          split: str = "test") -> Path:
    """Predicted variance against each row's empirical site variance, log-log, as a PNG.

    The title gives the Spearman rank correlation over all rows; rows with a site variance
    of 0 cannot be drawn on a log axis and are counted in the legend instead.

    Args:
        variance: (N,) predicted σ², all > 0.
        site_variance: (N,) empirical variance of each row's site, ≥ 0, at least one > 0.
        path: the PNG to write.
        target: the target column's name, for the axis units.
        split: which split the rows come from, for the title.

    Returns:
        ``path``.

    Raises:
        ValueError: see ``probabilistic_metrics.variance_agreement``.
    """
    rho = variance_agreement(variance, site_variance)["variance_rank_correlation"]
    variance = np.asarray(variance, dtype=np.float64)
    site_variance = np.asarray(site_variance, dtype=np.float64)
    drawn = site_variance > 0
    label = f"{split} rows (n={int(drawn.sum())})"
    if not drawn.all():
        label += f"; {int((~drawn).sum())} with site variance 0 not shown"
    figure, axis = new_figure(5.2, 5.0, layout="constrained")  # legend below: see _legend_below
    axis.scatter(site_variance[drawn], variance[drawn], **POINT_STYLE, label=label)
    low = min(site_variance[drawn].min(), variance.min())
    high = max(site_variance[drawn].max(), variance.max())
    axis.plot([low, high], [low, high], **DIAGONAL_STYLE, label="predicted = site variance")
    axis.set_xscale("log")
    axis.set_yscale("log")
    for scale_axis in (axis.xaxis, axis.yaxis):
        # Ticks as plain numbers ("0.1", "10"), as the other log plots.
        scale_axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_xlabel(f"empirical site variance ({target} units²)")
    axis.set_ylabel(f"predicted variance ({target} units²)")
    axis.set_title(f"σ² vs site variance ({split} split), Spearman ρ = {rho:.2f}")
    axis.grid(alpha=0.3, which="both")
    _legend_below(figure)
    return save_figure(figure, path)
