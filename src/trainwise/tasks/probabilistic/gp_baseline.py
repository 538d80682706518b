"""The Gaussian-process (kriging) baseline a probabilistic network is compared against.

A GP with an anisotropic RBF kernel over standardised features, a fitted signal variance and
a fitted white noise (the nugget), from scikit-learn. When longitude and latitude are among
the features it is the analogue of kriging with external drift: the covariates enter the
covariance (each with its own fitted length scale) instead of a linear trend, so a separate
ordinary kriging on lon/lat alone is not offered.

What it returns is comparable with the network's σ²: the predictive variance of a **new
observation** (the latent function's variance plus the fitted white noise), not of the
latent mean alone.

Example:
    >>> x = np.linspace(-1, 1, 40)[:, None]
    >>> mean, variance, info = gp_baseline(x, np.sin(3 * x[:, 0]), x[:5])  # doctest: +SKIP
    >>> info["train_rows"]                                                 # doctest: +SKIP
    40
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Kernel, WhiteKernel
from sklearn.preprocessing import StandardScaler

from trainwise.blas_threads import one_blas_thread

# The GP costs O(N³) time and O(N²) memory to fit; 2,000 rows take seconds to a minute.
DEFAULT_MAX_TRAIN_ROWS = 2000

# Extra optimizer starts (from random hyperparameters) beside the one from the initial kernel:
# the marginal likelihood has local optima (e.g. "all noise" with huge length scales).
DEFAULT_RESTARTS = 2

# scikit-learn's own default ``alpha``: diagonal jitter that keeps the Cholesky factorisation
# stable; far below any real noise on a standardised target.
JITTER = 1e-10

# Test rows predicted at once: the cross-covariance is (rows, train rows) float64, so 10,000
# rows against 2,000 training rows is 160 MB, and a map of millions of pixels stays bounded.
PREDICT_CHUNK_ROWS = 10_000


def gp_baseline(X_train, y_train, X_test, *, noise_variance=None, seed: int = 0,
                max_train_rows: int = DEFAULT_MAX_TRAIN_ROWS,
                n_restarts: int = DEFAULT_RESTARTS) -> tuple[np.ndarray, np.ndarray, dict]:
    """Fit a GP on the training rows and predict a Normal for each test row.

    Kernel ``ConstantKernel · RBF(length_scale=ones(F)) + WhiteKernel`` on features
    standardised with the training rows' mean and std, ``normalize_y=True``, hyperparameters
    by maximum marginal likelihood with ``n_restarts`` seeded restarts.

    Known noise: ``noise_variance`` (e.g. a site mean's σ²/n) goes into ``alpha``, the
    per-row diagonal added to the training covariance. It *adds to* the WhiteKernel, which is
    still fitted and then holds only the noise the known part does not explain (micro-scale
    variation, unrecorded measurement error); the two are not alternatives, because a known
    per-row noise rarely accounts for all of the scatter. The returned variance includes the
    fitted white noise but no test row's known noise (it is not given): to get the variance
    of a new noisy measurement with known noise v, add v.

    Args:
        X_train: (N, F) training features.
        y_train: (N,) training targets, in their own units.
        X_test: (M, F) rows to predict.
        noise_variance: optional (N,) known observation noise variance per training row,
            ≥ 0, in the target's squared units.
        seed: seeds the subsample and the optimizer restarts; the same seed gives the same
            result.
        max_train_rows: above this many training rows, fit on a seeded random subsample of
            this size (the GP is O(N³)).
        n_restarts: extra optimizer starts.

    Returns:
        ``(mean, variance, info)``: (M,) predictive means and (M,) predictive variances of a
        new observation, both in the target's units; ``info`` is plain data:
        ``kernel`` (the fitted kernel, on standardised features and target), ``train_rows``
        (rows fitted), ``total_train_rows``, ``subsampled``, ``white_noise_variance`` (the
        fitted white noise in target units; ``variance`` minus it is the latent variance),
        ``log_marginal_likelihood``, and ``convergence_warnings`` (scikit-learn's
        ConvergenceWarning messages, e.g. a length scale at its bound; empty if none).

    Raises:
        ValueError: shapes disagree, a value is not finite, a noise variance is negative, or
            ``max_train_rows`` < 2.
    """
    X_train, y_train, X_test, noise_variance = _check_inputs(X_train, y_train, X_test,
                                                             noise_variance, max_train_rows)
    total_rows = len(y_train)
    rows = training_rows(total_rows, max_train_rows, seed)  # (n,) indices
    X_train, y_train = X_train[rows], y_train[rows]
    y_scale = _target_scale(y_train)
    alpha = _alpha(None if noise_variance is None else noise_variance[rows], y_scale)
    scaler = StandardScaler().fit(X_train)
    model = GaussianProcessRegressor(kernel=default_kernel(X_train.shape[1]), alpha=alpha,
                                     normalize_y=True, n_restarts_optimizer=n_restarts,
                                     random_state=seed)
    caught = _fit_recording_convergence(model, scaler.transform(X_train), y_train)
    mean, variance = _predict_in_chunks(model, scaler.transform(X_test))
    info = {
        "kernel": str(model.kernel_),
        "train_rows": len(rows),
        "total_train_rows": int(total_rows),
        "subsampled": bool(len(rows) < total_rows),
        # The WhiteKernel acts on the standardised target; back to the target's units.
        "white_noise_variance": float(model.kernel_.k2.noise_level * y_scale ** 2),
        "log_marginal_likelihood": float(model.log_marginal_likelihood_value_),
        "convergence_warnings": caught,
    }
    return mean, variance, info


def default_kernel(n_features: int) -> Kernel:
    """``ConstantKernel · RBF(anisotropic, one length scale per feature) + WhiteKernel``.

    Starting values suit standardised features and target: signal variance 1, length scales
    1, white noise 1 (then fitted).
    """
    return (ConstantKernel(1.0) * RBF(length_scale=np.ones(n_features))
            + WhiteKernel(noise_level=1.0))


def training_rows(n_rows: int, max_rows: int, seed: int) -> np.ndarray:
    """All row indices, or a seeded sorted random subsample of ``max_rows`` of them."""
    if n_rows <= max_rows:
        return np.arange(n_rows)
    chosen = np.random.default_rng(seed).choice(n_rows, size=max_rows, replace=False)
    return np.sort(chosen)  # keeps the rows in their original order


def _target_scale(y: np.ndarray) -> float:
    """The std ``normalize_y`` divides the target by: scikit-learn's rule, including its 1
    for a (numerically) constant target, so ``alpha`` and the white noise convert exactly."""
    scale = float(np.std(y))
    return scale if scale >= 10 * np.finfo(np.float64).eps else 1.0


def _alpha(noise_variance: np.ndarray | None, y_scale: float) -> float | np.ndarray:
    """GaussianProcessRegressor's ``alpha``: jitter, plus the known noise if given.

    With ``normalize_y=True`` scikit-learn adds ``alpha`` to the covariance of the
    *standardised* target, so a noise variance in target units is divided by its variance.
    """
    if noise_variance is None:
        return JITTER
    return noise_variance / y_scale ** 2 + JITTER  # (n,)


def _fit_recording_convergence(model: GaussianProcessRegressor, features: np.ndarray,
                               targets: np.ndarray) -> list[str]:
    """Fit ``model``; return scikit-learn's ConvergenceWarning messages instead of emitting them.

    A length scale at its bound (an irrelevant feature) or an optimizer stopping at its
    iteration limit is expected for a baseline and reported in ``info``; every other warning
    is passed on unchanged.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        with one_blas_thread():
            model.fit(features, targets)
    messages = []
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning):
            messages.append(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    return list(dict.fromkeys(messages))  # unique, in order


def _predict_in_chunks(model: GaussianProcessRegressor,
                       features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(M,) means and (M,) variances of a new observation, a bounded number of rows at a time.

    scikit-learn's predictive std includes the WhiteKernel (``kernel_.diag`` of the test rows
    contains the white noise), so its square is already latent variance + white noise.
    """
    means, variances = [], []
    for start in range(0, len(features), PREDICT_CHUNK_ROWS):
        mean, std = model.predict(features[start:start + PREDICT_CHUNK_ROWS], return_std=True)
        means.append(mean)
        variances.append(std ** 2)
    return np.concatenate(means), np.concatenate(variances)


def _check_inputs(X_train, y_train, X_test, noise_variance, max_train_rows: int):
    """The inputs as float64 arrays of matching shapes, or a ValueError saying what is wrong."""
    X_train = _finite(X_train, "X_train", ndim=2)
    y_train = _finite(y_train, "y_train", ndim=1)
    X_test = _finite(X_test, "X_test", ndim=2)
    if len(y_train) != len(X_train):
        raise ValueError(f"X_train has {len(X_train)} rows but y_train {len(y_train)}")
    if X_test.shape[1] != X_train.shape[1]:
        raise ValueError(f"X_test has {X_test.shape[1]} features but X_train "
                         f"{X_train.shape[1]}; pass the same columns in the same order")
    if max_train_rows < 2:
        raise ValueError(f"max_train_rows must be at least 2, got {max_train_rows}")
    if noise_variance is not None:
        noise_variance = _finite(noise_variance, "noise_variance", ndim=1)
        if len(noise_variance) != len(y_train):
            raise ValueError(f"noise_variance has {len(noise_variance)} rows but y_train "
                             f"{len(y_train)}; give one known noise variance per training row")
        if (noise_variance < 0).any():
            row = int(np.flatnonzero(noise_variance < 0)[0])
            raise ValueError(f"noise_variance must be ≥ 0; row {row} has "
                             f"{noise_variance[row]:g}")
    return X_train, y_train, X_test, noise_variance


def _finite(values, name: str, ndim: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    shape = "(N, F)" if ndim == 2 else "(N,)"
    if array.ndim != ndim or len(array) == 0:
        raise ValueError(f"{name} must be a non-empty {shape} array, got shape {array.shape}"
                         + ("; reshape one feature with x.reshape(-1, 1)" if ndim == 2 else ""))
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{name} must be finite; row {row} has a NaN or infinite value")
    return array
