"""Reference points for reading a loss curve: a constant predictor and a linear model.

A network whose training loss is not clearly below a linear model's is not using its
capacity (under-fitting); one that is not below the constant predictor has learned nothing.
Both are measured with the run's own loss function, so the numbers compare directly.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, Ridge

from trainwise.blas_threads import one_blas_thread

# Fit the linear reference on at most this many rows, and this many values (rows × inputs:
# images are wide): it is a yardstick, not a model.
LINEAR_BASELINE_MAX_ROWS = 20_000
LINEAR_BASELINE_MAX_VALUES = 500_000


def compute_baselines(arrays: dict, task: str, n_outputs: int, loss_fn) -> dict:
    """``{"constant": {split: loss}, "linear": {split: loss}}`` for the train and val splits.

    Args:
        arrays: split -> (features, targets) as the preprocessing produced them.
        task: "regression" or "classification".
        n_outputs: 1, or the number of classes.
        loss_fn: the run's loss (on CPU tensors).
    """
    arrays = {split: (_flat(x), y) for split, (x, y) in arrays.items()}
    features, targets = arrays["train"]
    most = min(LINEAR_BASELINE_MAX_ROWS, max(100, LINEAR_BASELINE_MAX_VALUES // features.shape[1]))
    rows = np.random.default_rng(0).permutation(len(targets))[:most]
    result = {"constant": {}, "linear": {}}
    with one_blas_thread():
        constant, linear = _reference_models(features[rows], targets[rows], targets, task,
                                             n_outputs)
        for split in ("train", "val"):
            if split in arrays and len(arrays[split][1]):
                x, y = arrays[split]
                for name, predict in (("constant", constant), ("linear", linear)):
                    result[name][split] = _loss(loss_fn, predict(x), y)
    return result


def _reference_models(features: np.ndarray, targets: np.ndarray, all_targets: np.ndarray,
                      task: str, n_outputs: int):
    """The constant and linear predictors (features -> outputs), fitted on the given rows;
    the constant one from ``all_targets``, the whole training split."""
    if task == "probabilistic_regression":
        return _normal_baselines(features, targets)
    if task == "regression":
        constant = lambda x: np.full((len(x), 1), all_targets.mean())  # noqa: E731
        linear_model = Ridge(alpha=1.0).fit(features, targets)
        return constant, lambda x: linear_model.predict(x)[:, None]
    prior = np.bincount(all_targets, minlength=n_outputs) / len(all_targets)
    # Logits whose softmax is the training class frequencies: the best constant guess.
    constant = lambda x: np.tile(np.log(prior + 1e-12), (len(x), 1))  # noqa: E731
    linear_model = LogisticRegression(max_iter=1000).fit(features, targets)
    return constant, lambda x: _class_logits(linear_model, x, n_outputs)


def _flat(features: np.ndarray) -> np.ndarray:
    """Array samples (N, C, ...) as rows of values: the linear models read one vector each."""
    return features.reshape(len(features), -1)


def _normal_baselines(features: np.ndarray, targets: np.ndarray):
    """A constant Normal, and a linear mean with one constant variance.

    Targets are (N,) measurements or (N, 2) site (mean, variance); for sites the variance a
    constant guess must cover is the within-site variance plus the spread of site means.
    """
    means = targets[:, 0] if targets.ndim == 2 else targets
    within = targets[:, 1].mean() if targets.ndim == 2 else 0.0
    linear_model = Ridge(alpha=1.0).fit(features, means)
    residual = means - linear_model.predict(features)

    def normal(mean: np.ndarray, variance: float) -> np.ndarray:
        return np.stack([mean, np.full(len(mean), max(variance, 1e-6))], axis=1)  # (N, 2)

    constant = lambda x: normal(np.full(len(x), means.mean()), within + means.var())  # noqa: E731
    linear = lambda x: normal(linear_model.predict(x), within + residual.var())  # noqa: E731
    return constant, linear


def _class_logits(model: LogisticRegression, features: np.ndarray, n_outputs: int) -> np.ndarray:
    """Log-probabilities over all classes (classes absent from the fit rows get ~0)."""
    logits = np.full((len(features), n_outputs), np.log(1e-12))
    logits[:, model.classes_] = np.log(model.predict_proba(features) + 1e-12)
    return logits


def _loss(loss_fn, outputs: np.ndarray, targets: np.ndarray) -> float:
    with torch.no_grad():
        return float(loss_fn(torch.as_tensor(outputs, dtype=torch.float32),
                             torch.as_tensor(targets)))
