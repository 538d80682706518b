"""The Gaussian-process baseline: accurate and calibrated on a smooth 1-D function, unsure far
from its data, subsampled above its row limit, and the same for the same seed."""

from __future__ import annotations

import numpy as np
import pytest

from trainwise.tasks.probabilistic.gp_baseline import gp_baseline
from trainwise.tasks.probabilistic.metrics import interval_coverage

NOISE_STD = 0.2


def _smooth_data(n: int, seed: int, low: float = -2.0, high: float = 2.0):
    """``n`` rows of y = sin(2x) + N(0, 0.2²) with x uniform in [low, high]; x as (n, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, (n, 1))
    return x, np.sin(2 * x[:, 0]) + rng.normal(0, NOISE_STD, n)


def test_gp_beats_a_constant_and_its_intervals_are_calibrated():
    x_train, y_train = _smooth_data(120, seed=0)
    x_test, y_test = _smooth_data(2_000, seed=1)
    mean, variance, info = gp_baseline(x_train, y_train, x_test)
    rmse = np.sqrt(np.mean((mean - y_test) ** 2))
    constant_rmse = np.sqrt(np.mean((y_train.mean() - y_test) ** 2))
    assert rmse < 0.5 * constant_rmse
    assert rmse < 1.3 * NOISE_STD  # close to the noise floor
    assert 0.8 <= interval_coverage(y_test, mean, variance)["coverage_90"] <= 0.98
    # The fitted white noise is the data's noise, and it is part of the returned variance.
    assert info["white_noise_variance"] == pytest.approx(NOISE_STD ** 2, rel=0.5)
    assert (variance > info["white_noise_variance"]).all()
    assert info["train_rows"] == 120 and not info["subsampled"]
    assert "RBF" in info["kernel"] and "WhiteKernel" in info["kernel"]


def test_variance_grows_away_from_the_training_data():
    x_train, y_train = _smooth_data(80, seed=0, low=-1.0, high=1.0)
    _, variance, _ = gp_baseline(x_train, y_train, np.array([[0.0], [2.0], [4.0]]))
    assert variance[0] < variance[1] < variance[2]
    assert variance[2] > 5 * variance[0]


def test_subsampling_above_the_row_limit():
    x_train, y_train = _smooth_data(120, seed=0)
    _, _, info = gp_baseline(x_train, y_train, x_train[:5], max_train_rows=50)
    assert info["train_rows"] == 50
    assert info["total_train_rows"] == 120
    assert info["subsampled"]


def test_same_seed_same_result():
    x_train, y_train = _smooth_data(120, seed=0)
    first = gp_baseline(x_train, y_train, x_train[:20], seed=3, max_train_rows=60)
    second = gp_baseline(x_train, y_train, x_train[:20], seed=3, max_train_rows=60)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[2] == second[2]
    other_seed = gp_baseline(x_train, y_train, x_train[:20], seed=4, max_train_rows=60)
    assert not np.array_equal(first[0], other_seed[0])  # a different subsample


def test_known_noise_leaves_less_for_the_white_kernel():
    x_train, y_train = _smooth_data(120, seed=0)
    _, _, free = gp_baseline(x_train, y_train, x_train[:5])
    _, _, known = gp_baseline(x_train, y_train, x_train[:5],
                              noise_variance=np.full(120, NOISE_STD ** 2))
    # The known noise explains the scatter, so the fitted white noise shrinks towards 0.
    assert known["white_noise_variance"] < 0.2 * free["white_noise_variance"]


def test_convergence_warnings_are_recorded_not_raised():
    # Noise-free data and an irrelevant feature: the white noise and that feature's length
    # scale end at their bounds, which scikit-learn reports as ConvergenceWarning.
    rng = np.random.default_rng(0)
    x_train = rng.uniform(-2, 2, (60, 2))
    mean, variance, info = gp_baseline(x_train, np.sin(2 * x_train[:, 0]), x_train[:3])
    assert any("bound" in message for message in info["convergence_warnings"])
    assert (variance > 0).all()
    np.testing.assert_allclose(mean, np.sin(2 * x_train[:3, 0]), atol=1e-3)


def test_bad_inputs_raise():
    x_train, y_train = _smooth_data(10, seed=0)
    with pytest.raises(ValueError, match="reshape"):
        gp_baseline(x_train[:, 0], y_train, x_train)
    with pytest.raises(ValueError, match="X_test has 2 features"):
        gp_baseline(x_train, y_train, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="noise_variance must be ≥ 0; row 4"):
        noise = np.ones(10)
        noise[4] = -1
        gp_baseline(x_train, y_train, x_train, noise_variance=noise)
