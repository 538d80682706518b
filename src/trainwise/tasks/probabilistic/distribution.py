"""Predictive Normals of a probabilistic run, in the target's units, and their evaluation.

A probabilistic network predicts, per row, the Normal a single measurement there is drawn
from. Its evaluation therefore scores measurements: the negative log-likelihood, CRPS and
interval coverage of every held-out measurement. With per-site targets (``data.group_by``)
the sites are scored too: the RMSE of the predicted mean against the site mean, and of the
predicted variance against the site's sample variance, with their rank correlation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from trainwise.data.prepare import PreparedData
from trainwise.data.preprocess import Preprocessor
from trainwise.tasks.probabilistic.gp_baseline import gp_baseline
from trainwise.models.predictive import mc_dropout_output, mixture_parts
from trainwise.tasks.probabilistic.metrics import probabilistic_metrics

# The central interval written beside each prediction (predictions.csv, `trainwise predict`).
INTERVAL_LEVEL = 0.9
_Z_90 = 1.6448536269514722  # the standard Normal's 95th percentile

# Site-level keys taken from the metrics of site means, renamed so they cannot be mistaken
# for the measurement-level ones.
SITE_KEYS = {"rmse": "rmse_site_mean", "mae": "mae_site_mean", "r2": "r2_site_mean",
             "rmse_variance": "rmse_variance", "variance_rank_correlation":
             "variance_rank_correlation", "n": "n_sites"}


def predictive_parts(model: nn.Module, features: np.ndarray, mc_dropout: int = 0,
                     prep: Preprocessor | None = None) -> dict[str, np.ndarray]:
    """Mean, variance, aleatoric and epistemic variance per row, each (N,) float64.

    Args:
        model: a Gaussian network or ensemble (in eval mode for a plain pass).
        features: (N, F) float32 preprocessed rows.
        mc_dropout: forward passes with dropout on (0: one deterministic pass).
        prep: given, the values are in the target's units; else in the scaled units.
    """
    inputs = torch.from_numpy(features)
    with torch.inference_mode():
        output = mc_dropout_output(model, inputs, mc_dropout) if mc_dropout else model(inputs)
    parts = {name: value.double().numpy() for name, value in mixture_parts(output).items()}
    if prep is None:
        return parts
    return {"mean": prep.inverse_target(parts["mean"]),
            **{name: prep.inverse_variance(parts[name])
               for name in ("variance", "aleatoric", "epistemic")}}


def evaluate_distribution(parts: dict[str, np.ndarray], targets: np.ndarray,
                          prep: Preprocessor,
                          measurements: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Metrics of predicted Normals (target units) against encoded targets.

    Args:
        parts: ``predictive_parts(..., prep=prep)``.
        targets: (N,) scaled measurements, or (N, 2) scaled site (mean, variance).
        prep: the run's preprocessing.
        measurements: for site targets, ``(site row (M,), value (M,))`` in target units.
    """
    if targets.ndim == 1:
        return probabilistic_metrics(prep.inverse_target(targets), parts["mean"],
                                     parts["variance"])
    rows, values = measurements
    metrics = probabilistic_metrics(values, parts["mean"][rows], parts["variance"][rows])
    metrics["n_measurements"] = metrics.pop("n")
    site = probabilistic_metrics(prep.inverse_target(targets[:, 0]), parts["mean"],
                                 parts["variance"],
                                 site_variance=prep.inverse_variance(targets[:, 1]))
    metrics.update({new: site[old] for old, new in SITE_KEYS.items() if old in site})
    return metrics


def gp_baseline_metrics(data: PreparedData, split: str, seed: int) -> dict:
    """The Gaussian-process baseline, fitted on the training split, scored like the network.

    Per-site targets: the GP fits the site means, each with its known noise σ²/n, and
    predicts a site mean; a single measurement there adds the within-site variance, for
    which the GP (one noise level for all) can only use the training sites' average. That
    is the kriging the TimberID lab compared against: a mean map plus one global variance.
    """
    prep = data.preprocessor
    x_train, y_train = data.arrays["train"]
    x_held, y_held = data.arrays[split]
    if y_train.ndim == 1:
        mean, variance, info = gp_baseline(x_train, prep.inverse_target(y_train), x_held,
                                           seed=seed)
        within = 0.0
    else:
        site_variance = prep.inverse_variance(y_train[:, 1].astype("float64"))
        counts = np.bincount(data.measurements["train"][0], minlength=len(y_train))
        mean, variance, info = gp_baseline(x_train, prep.inverse_target(y_train[:, 0]), x_held,
                                           noise_variance=site_variance / counts, seed=seed)
        within = float(site_variance.mean())
    parts = {"mean": mean, "variance": variance + within}
    measurements = data.measurements[split] if data.measurements else None
    metrics = evaluate_distribution(parts, y_held, prep, measurements)
    return {**metrics, "kernel": info["kernel"], "train_rows": info["train_rows"]}


def distribution_rows(prep: Preprocessor, split: str, parts: dict[str, np.ndarray],
                      targets: np.ndarray) -> pd.DataFrame:
    """predictions.csv rows: split, actual, predicted mean, variance, std, 90 % interval.

    For site targets ``actual`` is the site mean and ``actual_variance`` its sample variance.
    """
    actual = targets[:, 0] if targets.ndim == 2 else targets
    rows = pd.DataFrame({"split": split, "actual": prep.inverse_target(actual)})
    if targets.ndim == 2:
        rows["actual_variance"] = prep.inverse_variance(targets[:, 1])
    return pd.concat([rows, distribution_columns(parts, "predicted")], axis=1)


def distribution_columns(parts: dict[str, np.ndarray], prefix: str) -> pd.DataFrame:
    """``<prefix>``, ``_variance``, ``_std``, ``_lower_90``/``_upper_90`` and ``_epistemic``."""
    std = np.sqrt(parts["variance"])
    return pd.DataFrame({
        prefix: parts["mean"],
        f"{prefix}_variance": parts["variance"],
        f"{prefix}_std": std,
        f"{prefix}_lower_90": parts["mean"] - _Z_90 * std,
        f"{prefix}_upper_90": parts["mean"] + _Z_90 * std,
        f"{prefix}_epistemic": parts["epistemic"],
    })
