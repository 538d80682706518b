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


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list,
                           probabilities: np.ndarray | None = None) -> dict:
    """Accuracy, balanced accuracy, macro-F1, per-class precision/recall/F1, confusion matrix.

    ``y_true`` and ``y_pred`` are class indices into ``classes``. The confusion matrix rows
    are true classes, columns predicted classes, in the order of ``classes``. With
    ``probabilities`` (N, classes) the precision-recall AUC is added too (see
    ``average_precision``): ``pr_auc`` (macro) and ``average_precision`` per class.
    """
    labels = list(range(len(classes)))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    result = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        # scikit-learn's definition (the mean recall over the classes present), computed from
        # the recalls above: its own function warns when a split lacks a predicted class,
        # which a small held-out split of sessions often does.
        "balanced_accuracy": float(recall[support > 0].mean()) if support.any() else 0.0,
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
    if probabilities is not None:
        per_class_ap, result["pr_auc"] = average_precision(y_true, probabilities)
        for name, value in zip(classes, per_class_ap):
            result["per_class"][str(name)]["average_precision"] = value
    return result


def average_precision(y_true: np.ndarray, probabilities: np.ndarray) -> tuple[list, float | None]:
    """Area under the precision-recall curve per class (one against the rest), and their mean.

    Average precision, not the trapezoid area: the trapezoid over-states a curve with few
    points, and a rare class has few. Unlike ROC-AUC it ignores the true negatives, so a rare
    class's score is not flattered by the many easy rows of the others.

    Args:
        y_true: (N,) class indices.
        probabilities: (N, classes) predicted probabilities.

    Returns:
        ``(per_class, macro)``: None for a class with no rows here (its precision-recall curve
        is undefined); the macro mean is over the classes that have rows (None if none do).

    Example:
        >>> average_precision(np.array([0, 1, 1]), np.array([[.9, .1], [.2, .8], [.6, .4]]))
        ([1.0, 1.0], 1.0)
    """
    per_class = []
    for label in range(probabilities.shape[1]):
        positives = y_true == label
        if not positives.any():
            per_class.append(None)
            continue
        per_class.append(float(skm.average_precision_score(positives, probabilities[:, label])))
    defined = [value for value in per_class if value is not None]
    return per_class, (float(np.mean(defined)) if defined else None)
