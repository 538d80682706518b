"""Probabilistic regression metrics and calibration plots: NLL and CRPS against hand-computed
values and numerical integration, coverage that matches nominal for draws from the predicted
Normal and falls short for an over-confident one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from trainwise.tasks.probabilistic.metrics import (
    calibration_error,
    coverage_curve,
    gaussian_crps,
    gaussian_nll,
    interval_coverage,
    pit_values,
    probabilistic_metrics,
    sharpness,
)
from trainwise.reports.calibration import (
    PIT_PLOT,
    RELIABILITY_PLOT,
    VARIANCE_PLOT,
    write_calibration_plots,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _phi(z: float) -> float:
    """Standard Normal density, by hand."""
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _cdf(z: float) -> float:
    """Standard Normal CDF, by hand."""
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def _calibrated_sample(n: int, seed: int = 0):
    """``n`` rows whose y is drawn from exactly the predicted Normal (varied μ and σ²)."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(10.0, 3.0, n)
    variance = rng.uniform(0.2, 5.0, n)
    y = rng.normal(mean, np.sqrt(variance))
    return y, mean, variance


# y=1, μ=0, σ²=1: z=1.   y=0.5, μ=0, σ²=4: σ=2, z=0.25.
HAND_CASES = [
    # (y, μ, σ², NLL, CRPS)
    (1.0, 0.0, 1.0,
     0.5 * (math.log(2 * math.pi) + 1.0),  # = 1.4189385332
     1.0 * (1 * (2 * _cdf(1) - 1) + 2 * _phi(1) - 1 / math.sqrt(math.pi))),  # = 0.6024413576
    (0.5, 0.0, 4.0,
     0.5 * (math.log(2 * math.pi * 4) + 0.25 / 4),  # = 1.6433357138
     2.0 * (0.25 * (2 * _cdf(0.25) - 1) + 2 * _phi(0.25) - 1 / math.sqrt(math.pi))),  # = 0.5169996
]


@pytest.mark.parametrize("y, mean, variance, nll, crps", HAND_CASES, ids=["z=1", "z=0.25"])
def test_nll_and_crps_match_hand_computed_values(y, mean, variance, nll, crps):
    assert gaussian_nll([y], [mean], [variance]) == pytest.approx(nll, rel=1e-12)
    assert gaussian_crps([y], [mean], [variance]) == pytest.approx(crps, rel=1e-12)


def test_hand_computed_values_written_out():
    # The same two cases as literal numbers, so a wrong helper above cannot hide an error.
    y, mean, variance = [1.0, 0.5], [0.0, 0.0], [1.0, 4.0]
    assert gaussian_nll(y, mean, variance) == pytest.approx((1.4189385332 + 1.6433357138) / 2)
    assert gaussian_crps(y, mean, variance) == pytest.approx((0.6024413576 + 0.5169996258) / 2)


def test_crps_matches_numerical_integral_of_its_definition():
    y, mean, variance = 2.3, 0.7, 1.8
    normal = stats.norm(mean, math.sqrt(variance))
    # CRPS = ∫ (F(x) − 1{x ≥ y})² dx, split at y where the indicator jumps.
    below, _ = integrate.quad(lambda x: normal.cdf(x) ** 2, -np.inf, y)
    above, _ = integrate.quad(lambda x: (1 - normal.cdf(x)) ** 2, y, np.inf)
    assert gaussian_crps([y], [mean], [variance]) == pytest.approx(below + above, rel=1e-7)


def test_crps_of_a_point_like_prediction_is_the_absolute_error():
    y, mean = np.array([1.3, -2.0, 0.0]), np.array([0.2, -1.5, 0.0])
    assert gaussian_crps(y, mean, np.full(3, 1e-12)) == pytest.approx(
        np.mean(np.abs(y - mean)), abs=1e-5)


def test_calibrated_predictions_cover_their_nominal_share():
    y, mean, variance = _calibrated_sample(200_000)
    coverage = interval_coverage(y, mean, variance)
    assert set(coverage) == {"coverage_50", "coverage_90", "coverage_95"}
    for level in (50, 90, 95):
        assert coverage[f"coverage_{level}"] == pytest.approx(level / 100, abs=0.01)
    assert calibration_error(y, mean, variance) < 0.01


def test_over_confident_predictions_cover_clearly_less():
    y, mean, variance = _calibrated_sample(200_000)
    # σ too small by 2×: the 90 % interval is ±0.82 true σ and holds about 59 % of rows.
    coverage = interval_coverage(y, mean, variance / 4)
    assert coverage["coverage_90"] < 0.65
    assert coverage["coverage_50"] < 0.30
    nominal, observed = coverage_curve(y, mean, variance / 4)
    assert (observed < nominal).all()
    assert calibration_error(y, mean, variance / 4) > 0.1


def test_pit_is_uniform_when_calibrated_and_u_shaped_when_over_confident():
    y, mean, variance = _calibrated_sample(50_000)
    assert stats.kstest(pit_values(y, mean, variance), "uniform").pvalue > 0.01
    tails = pit_values(y, mean, variance / 4)
    share_in_tails = np.mean((tails < 0.1) | (tails > 0.9))
    assert share_in_tails > 0.35  # 0.2 if calibrated


def test_sharpness_is_the_mean_std_and_the_90_interval_width():
    result = sharpness([1.0, 4.0])
    assert result["sharpness"] == pytest.approx(1.5)
    assert result["interval_width_90"] == pytest.approx(2 * 1.6448536 * 1.5)


def test_probabilistic_metrics_collects_everything():
    y, mean, variance = _calibrated_sample(2_000)
    result = probabilistic_metrics(y, mean, variance)
    assert {"rmse", "mae", "r2", "nll", "crps", "coverage_50", "coverage_90", "coverage_95",
            "calibration_error", "sharpness", "interval_width_90", "n"} <= set(result)
    assert result["n"] == 2_000
    assert result["rmse"] == pytest.approx(np.sqrt(np.mean((y - mean) ** 2)))
    assert result["crps"] == pytest.approx(gaussian_crps(y, mean, variance))
    assert "rmse_variance" not in result
    assert all(isinstance(value, (int, float)) for value in result.values())


def test_site_variance_agreement():
    variance = np.array([0.5, 1.0, 2.0, 4.0])
    site_variance = np.array([0.6, 0.9, 2.5, 5.0])  # same order, different values
    result = probabilistic_metrics(np.zeros(4), np.zeros(4), variance,
                                   site_variance=site_variance)
    assert result["variance_rank_correlation"] == pytest.approx(1.0)
    assert result["rmse_variance"] == pytest.approx(math.sqrt((0.01 + 0.01 + 0.25 + 1.0) / 4))
    reversed_sites = probabilistic_metrics(np.zeros(4), np.zeros(4), variance,
                                           site_variance=site_variance[::-1])
    assert reversed_sites["variance_rank_correlation"] == pytest.approx(-1.0)


def test_rank_correlation_is_nan_for_constant_variance():
    # Undefined rather than a warning (warnings are errors here).
    result = probabilistic_metrics(np.zeros(3), np.zeros(3), np.ones(3),
                                   site_variance=[1.0, 2.0, 3.0])
    assert math.isnan(result["variance_rank_correlation"])


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_variance_raises_naming_the_row(bad):
    variance = np.array([1.0, 1.0, bad, 1.0])
    with pytest.raises(ValueError, match="variance must be positive; row 2"):
        gaussian_nll(np.zeros(4), np.zeros(4), variance)
    with pytest.raises(ValueError, match="row 2"):
        probabilistic_metrics(np.zeros(4), np.zeros(4), variance)


def test_bad_shapes_and_values_raise():
    with pytest.raises(ValueError, match="lengths"):
        gaussian_crps(np.zeros(3), np.zeros(4), np.ones(3))
    with pytest.raises(ValueError, match=r"\(N,\)"):
        gaussian_crps(np.zeros((3, 2)), np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="y must be finite; row 1"):
        gaussian_crps([0.0, float("nan")], [0.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="site_variance must be finite and ≥ 0; row 0"):
        probabilistic_metrics(np.zeros(2), np.zeros(2), np.ones(2), site_variance=[-1.0, 1.0])
    with pytest.raises(ValueError, match="levels"):
        interval_coverage(np.zeros(2), np.zeros(2), np.ones(2), levels=(0.5, 1.0))


@pytest.mark.parametrize("with_sites", [True, False])
def test_calibration_plots_are_written(tmp_path, with_sites):
    y, mean, variance = _calibrated_sample(500)
    site_variance = variance * np.random.default_rng(1).uniform(0.5, 2.0, 500)
    paths = write_calibration_plots(tmp_path / "plots", y, mean, variance,
                                    site_variance=site_variance if with_sites else None,
                                    target="d18O")
    expected = [RELIABILITY_PLOT, PIT_PLOT] + ([VARIANCE_PLOT] if with_sites else [])
    assert [path.name for path in paths] == expected
    for path in paths:
        content = path.read_bytes()
        assert content[:8] == PNG_SIGNATURE, path.name
        assert len(content) > 10_000, f"{path.name} is only {len(content)} bytes"
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(expected)


def test_bad_site_variance_writes_no_plot(tmp_path):
    y, mean, variance = _calibrated_sample(50)
    site_variance = np.ones(50)
    site_variance[7] = np.nan
    with pytest.raises(ValueError, match="site_variance must be finite and ≥ 0; row 7"):
        write_calibration_plots(tmp_path, y, mean, variance, site_variance=site_variance)
    assert list(tmp_path.iterdir()) == []
