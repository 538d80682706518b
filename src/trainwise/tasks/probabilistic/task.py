"""The probabilistic regression task: the network predicts a Normal per row (or per site)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trainwise.tasks.base import SplitResult, Task
from trainwise.tasks.probabilistic.distribution import (distribution_columns, distribution_rows,
                                                        evaluate_distribution,
                                                        gp_baseline_metrics, predictive_parts)


class ProbabilisticRegression(Task):
    """MAE of the mean while training; NLL, CRPS, coverage and calibration at the end, with
    the Gaussian-process baseline on request; mean, variance, std, 90 % interval and the
    epistemic part per row."""

    name = "probabilistic_regression"
    running_metric = "mae"
    probabilistic = True

    def evaluate_split(self, model, cfg, data, split: str, outputs=None) -> SplitResult:
        # The predictive distribution (MC dropout, ensembles) is computed here; ``outputs``
        # (raw outputs kept from validation) is not read.
        prep = data.preprocessor
        features, targets = data.arrays[split]
        parts = predictive_parts(model, features, cfg.task.mc_dropout, prep)
        measurements = data.measurements[split] if data.measurements else None
        measurement_rows = None
        if measurements is not None:
            rows, values = measurements
            measurement_rows = pd.DataFrame({
                "split": split, "site_row": rows, "actual": values,
                "predicted": parts["mean"][rows], "predicted_variance": parts["variance"][rows]})
        metrics = evaluate_distribution(parts, targets, prep, measurements)
        # One GP fit (O(N³)): on the split the final evaluation reports.
        if cfg.task.gp_baseline and split == ("test" if data.has_test else "val"):
            metrics["gp_baseline"] = gp_baseline_metrics(data, split, cfg.train.seed)
        return SplitResult(metrics, distribution_rows(prep, split, parts, targets),
                           measurement_rows)

    def predict(self, model, features: np.ndarray, prep, cfg) -> pd.DataFrame:
        parts = predictive_parts(model, features, cfg.task.mc_dropout, prep)
        return distribution_columns(parts, f"{prep.target}_pred")

    def score(self, model, features: np.ndarray, targets: np.ndarray, prep, cfg) -> dict:
        # Each row is one measurement, scored against the Normal predicted for it.
        return evaluate_distribution(predictive_parts(model, features, cfg.task.mc_dropout,
                                                      prep), targets, prep)

    def distribution(self, model, features: np.ndarray, prep, cfg) -> dict[str, np.ndarray]:
        """Mean, variance, aleatoric and epistemic parts per row, in the target's units."""
        return predictive_parts(model, features, cfg.task.mc_dropout, prep)
