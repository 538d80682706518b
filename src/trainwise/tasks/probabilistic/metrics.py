"""Final metrics of a probabilistic regression (a Normal mean and variance per row), as plain data.

Everything is in the target's own units (un-standardise μ and σ² before calling). The scores
judge two things at once: how close the mean is (RMSE, MAE, R², the same numbers as a plain
regression run) and whether the variance is honest (NLL, CRPS, interval coverage, PIT,
calibration error, sharpness). Deep ensembles and MC dropout give K Normals per row;
``models.predictive.mixture_parts`` turns them into the one Normal these functions score.

Example:
    >>> y, mean, variance = np.array([1.0, 0.5]), np.zeros(2), np.array([1.0, 4.0])
    >>> round(gaussian_nll(y, mean, variance), 6), round(gaussian_crps(y, mean, variance), 6)
    (1.531137, 0.55972)
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from trainwise.metrics import regression_metrics

# Central-interval levels reported as coverage_50, coverage_90, coverage_95.
COVERAGE_LEVELS = (0.5, 0.9, 0.95)

# Levels of the reliability curve, and of the calibration error averaged over it.
CURVE_LEVELS = np.linspace(0.05, 0.95, 19)

# The interval whose mean width is reported beside the mean std (sharpness).
WIDTH_LEVEL = 0.9

_LOG_2PI = float(np.log(2 * np.pi))
_INV_SQRT_PI = float(1 / np.sqrt(np.pi))


def gaussian_nll(y, mean, variance) -> float:
    """Mean negative log-likelihood of ``y`` under N(mean, variance), constant included.

    Per row ``0.5 * (log(2π σ²) + (y − μ)² / σ²)``: the same value as the training loss
    ``GaussianNLL``, but in the target's own units (so it differs from a loss computed on a
    standardised target by ``log(target std)``).

    Args:
        y: (N,) observed values.
        mean: (N,) predicted means μ.
        variance: (N,) predicted variances σ², all > 0.

    Returns:
        The mean over rows, in nats.

    Raises:
        ValueError: see ``check_prediction``.
    """
    return float(np.mean(nll_per_row(*check_prediction(y, mean, variance))))


def nll_per_row(y: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """(N,) Gaussian negative log-likelihoods of already checked arrays."""
    return 0.5 * (_LOG_2PI + np.log(variance) + (y - mean) ** 2 / variance)


def gaussian_crps(y, mean, variance) -> float:
    """Mean continuous ranked probability score of N(mean, variance), in closed form.

    Per row ``σ · [z (2Φ(z) − 1) + 2φ(z) − 1/√π]`` with ``z = (y − μ)/σ``
    (Gneiting et al. 2005). It is in the target's units, and for σ → 0 it tends to
    ``|y − μ|`` (the MAE), so it compares directly with a point prediction's absolute error.
    Lower is better.

    Args:
        y: (N,) observed values.
        mean: (N,) predicted means μ.
        variance: (N,) predicted variances σ², all > 0.

    Returns:
        The mean over rows.

    Raises:
        ValueError: see ``check_prediction``.
    """
    return float(np.mean(crps_per_row(*check_prediction(y, mean, variance))))


def crps_per_row(y: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """(N,) closed-form Gaussian CRPS of already checked arrays."""
    std = np.sqrt(variance)
    z = (y - mean) / std
    return std * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - _INV_SQRT_PI)


def pit_values(y, mean, variance) -> np.ndarray:
    """Probability integral transform ``Φ((y − μ)/σ)`` per row.

    Uniform on [0, 1] when the predicted Normals are calibrated; piled at 0 and 1 (a U) when
    they are too narrow, piled in the middle (a hump) when too wide.

    Returns:
        (N,) values in [0, 1].

    Raises:
        ValueError: see ``check_prediction``.
    """
    y, mean, variance = check_prediction(y, mean, variance)
    return stats.norm.cdf((y - mean) / np.sqrt(variance))


def interval_coverage(y, mean, variance, levels=COVERAGE_LEVELS) -> dict:
    """Share of rows whose ``y`` lies inside the central interval ``μ ± z_{(1+p)/2} σ``.

    Args:
        y: (N,) observed values.
        mean: (N,) predicted means μ.
        variance: (N,) predicted variances σ².
        levels: nominal levels p, each in (0, 1).

    Returns:
        ``{"coverage_50": share, "coverage_90": share, ...}``, one key per level (the level in
        percent, ``coverage_97.5`` for 0.975). A calibrated model's share is close to p.

    Raises:
        ValueError: a level outside (0, 1), or see ``check_prediction``.
    """
    levels = _check_levels(levels)
    observed = _observed_coverage(*check_prediction(y, mean, variance), levels)
    return {f"coverage_{100 * level:g}": float(share)
            for level, share in zip(levels, observed)}


def coverage_curve(y, mean, variance, levels=CURVE_LEVELS) -> tuple[np.ndarray, np.ndarray]:
    """Nominal against observed central-interval coverage: the reliability curve's points.

    Returns:
        ``(nominal, observed)``, each (L,). Observed below nominal means the intervals are too
        narrow (over-confident); above, too wide (under-confident).

    Raises:
        ValueError: a level outside (0, 1), or see ``check_prediction``.
    """
    levels = _check_levels(levels)
    return levels, _observed_coverage(*check_prediction(y, mean, variance), levels)


def calibration_error(y, mean, variance, levels=CURVE_LEVELS) -> float:
    """Mean ``|observed − nominal|`` coverage over the reliability curve's levels (0: ideal)."""
    nominal, observed = coverage_curve(y, mean, variance, levels)
    return float(np.mean(np.abs(observed - nominal)))


def _observed_coverage(y: np.ndarray, mean: np.ndarray, variance: np.ndarray,
                       levels: np.ndarray) -> np.ndarray:
    """(L,) share of rows with ``|y − μ| ≤ z_{(1+p)/2} σ`` for each level p."""
    abs_z = np.abs(y - mean) / np.sqrt(variance)  # (N,)
    half_widths = stats.norm.ppf((1 + levels) / 2)  # (L,) in units of σ
    return (abs_z[None, :] <= half_widths[:, None]).mean(axis=1)  # (L,)


def sharpness(variance) -> dict:
    """How narrow the predictions are, regardless of whether they are right.

    Args:
        variance: (N,) predicted variances σ², all > 0.

    Returns:
        ``{"sharpness": mean σ, "interval_width_90": mean width of the central 90 % interval}``
        (``2 · 1.645 · mean σ``), both in the target's units. Only meaningful beside the
        coverage: a model is good when it is sharp *and* calibrated.

    Raises:
        ValueError: a variance that is not positive (the message names the row).
    """
    std = np.sqrt(_check_positive(_vector(variance, "variance"), "variance"))
    mean_std = float(np.mean(std))
    width = 2 * float(stats.norm.ppf((1 + WIDTH_LEVEL) / 2)) * mean_std
    return {"sharpness": mean_std, f"interval_width_{100 * WIDTH_LEVEL:g}": width}


def probabilistic_metrics(y, mean, variance, *, site_variance=None) -> dict:
    """Every final metric of a probabilistic regression, as a flat dict of floats.

    Args:
        y: (N,) observed values.
        mean: (N,) predicted means μ.
        variance: (N,) predicted variances σ², all > 0.
        site_variance: optional (N,) empirical variance of the row's site (the spread of the
            measurements there), ≥ 0; adds how well σ² tracks it.

    Returns:
        ``mae``, ``rmse``, ``r2``, ``mse``, ``n`` of the mean (``metrics.regression_metrics``);
        ``nll``, ``crps``; ``coverage_50/90/95``; ``calibration_error``; ``sharpness`` (mean
        σ) and ``interval_width_90``; with ``site_variance`` also ``rmse_variance`` (σ² against
        the site variance, in squared target units) and ``variance_rank_correlation``
        (Spearman; NaN when either side is constant, where a rank correlation is undefined).

    Raises:
        ValueError: see ``check_prediction``; a ``site_variance`` of another length, or one
            that is negative or not finite (the message names the row).

    Example:
        >>> result = probabilistic_metrics(np.array([0.0, 1.0]), np.zeros(2), np.ones(2))
        >>> result["coverage_90"], result["sharpness"]
        (1.0, 1.0)
    """
    y, mean, variance = check_prediction(y, mean, variance)
    result = regression_metrics(y, mean)
    result["nll"] = float(np.mean(nll_per_row(y, mean, variance)))
    result["crps"] = float(np.mean(crps_per_row(y, mean, variance)))
    result.update(interval_coverage(y, mean, variance))
    result["calibration_error"] = calibration_error(y, mean, variance)
    result.update(sharpness(variance))
    if site_variance is not None:
        result.update(variance_agreement(variance, site_variance))
    return result


def variance_agreement(variance, site_variance) -> dict:
    """How well predicted variances match the sites' empirical variances.

    Args:
        variance: (N,) predicted σ², all > 0.
        site_variance: (N,) empirical variance of each row's site, ≥ 0.

    Returns:
        ``{"rmse_variance": ..., "variance_rank_correlation": Spearman ρ}``; ρ is NaN when
        either side is constant or there are fewer than 2 rows.

    Raises:
        ValueError: lengths differ, or a value is out of range (the message names the row).
    """
    variance = _check_positive(_vector(variance, "variance"), "variance")
    site_variance = _vector(site_variance, "site_variance")
    _check_same_length(variance=variance, site_variance=site_variance)
    _check_rows(site_variance, site_variance >= 0, "site_variance", "must be finite and ≥ 0")
    rmse = float(np.sqrt(np.mean((variance - site_variance) ** 2)))
    return {"rmse_variance": rmse,
            "variance_rank_correlation": _spearman(variance, site_variance)}


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman ρ, NaN where it is undefined (scipy would warn and return NaN there)."""
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def check_prediction(y, mean, variance) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``y``, ``mean`` and ``variance`` as float64 (N,) arrays, checked.

    Returns:
        ``(y, mean, variance)``.

    Raises:
        ValueError: an array is not one-dimensional or is empty, the lengths differ, ``y`` or
            ``mean`` is not finite, or a variance is not positive (NaN included); the message
            names the first bad row (0-based) and its value.
    """
    y, mean, variance = _vector(y, "y"), _vector(mean, "mean"), _vector(variance, "variance")
    _check_same_length(y=y, mean=mean, variance=variance)
    _check_rows(y, np.isfinite(y), "y", "must be finite")
    _check_rows(mean, np.isfinite(mean), "mean", "must be finite")
    return y, mean, _check_positive(variance, "variance")


def _vector(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty (N,) array, one value per row; "
                         f"got shape {array.shape}")
    return array


def _check_same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"one value per row expected in each array; lengths are {lengths}")


def _check_positive(values: np.ndarray, name: str) -> np.ndarray:
    # `> 0` is False for NaN, so a NaN variance is rejected too.
    _check_rows(values, values > 0, name, "must be positive")
    return values


def _check_rows(values: np.ndarray, good: np.ndarray, name: str, rule: str) -> None:
    """Raise ValueError naming the first row where ``good`` is False."""
    # A NaN compares False everywhere, so `good` already excludes it for ≥/>; +inf is caught
    # by requiring finiteness as well.
    bad = ~(good & np.isfinite(values))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} {rule}; row {row} has {values[row]:g} "
                         f"({int(bad.sum())} bad rows in all)")


def _check_levels(levels) -> np.ndarray:
    levels = np.atleast_1d(np.asarray(levels, dtype=np.float64))
    if levels.ndim != 1 or not np.all((levels > 0) & (levels < 1)):
        raise ValueError(f"coverage levels must be in (0, 1), got {levels.tolist()}")
    return levels
