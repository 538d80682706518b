"""Final evaluation metrics from scikit-learn, as plain data."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """MAE, RMSE, R² and MSE in the target's own units.

    Example:
        >>> regression_metrics(np.array([1.0, 2.0]), np.array([1.0, 3.0]))["mae"]
        0.5
    """
    mse = float(skm.mean_squared_error(y_true, y_pred))
    return {
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "rmse": mse ** 0.5,
        "r2": float(skm.r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan"),
        "mse": mse,
        "n": int(len(y_true)),
    }


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list) -> dict:
    """Accuracy, balanced accuracy, macro-F1, per-class precision/recall/F1, confusion matrix.

    ``y_true`` and ``y_pred`` are class indices into ``classes``. The confusion matrix rows
    are true classes, columns predicted classes, in the order of ``classes``.
    """
    labels = list(range(len(classes)))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(skm.f1_score(y_true, y_pred, labels=labels, average="macro",
                                       zero_division=0)),
        "per_class": {
            str(name): {"precision": float(precision[i]), "recall": float(recall[i]),
                        "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(classes)
        },
        "classes": [str(name) for name in classes],
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "n": int(len(y_true)),
    }
