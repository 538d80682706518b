"""Regression: one value per row, in the target's units (scaled for training when
``data.scale_target``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trainwise.metrics import regression_metrics
from trainwise.tasks.base import Task, model_outputs


class Regression(Task):
    """MAE while training; MAE, RMSE, R² and MSE at the end; ``<target>_pred`` per row."""

    name = "regression"
    running_metric = "mae"

    def metrics(self, prep, outputs: np.ndarray, targets: np.ndarray) -> dict:
        return regression_metrics(prep.inverse_target(targets),
                                  prep.inverse_target(outputs[:, 0]))

    def prediction_rows(self, prep, split: str, outputs: np.ndarray,
                        targets: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"split": split, "actual": prep.inverse_target(targets),
                             "predicted": prep.inverse_target(outputs[:, 0])})

    def predict(self, model, features: np.ndarray, prep, cfg) -> pd.DataFrame:
        outputs = model_outputs(model, features)
        return pd.DataFrame({f"{prep.target}_pred": prep.inverse_target(outputs[:, 0])})
