"""What the held-out predictions say beyond the curves: a model that predicts one class."""

from __future__ import annotations

import numpy as np

from trainwise.diagnostics.context import DiagnosisContext
from trainwise.diagnostics.finding import Finding
from trainwise.diagnostics.thresholds import Thresholds


def one_class(history: list[dict], context: DiagnosisContext,
              limits: Thresholds) -> list[Finding]:
    """Nearly every held-out row (or pixel) predicted as one class, the others mostly missed.

    A loss curve can look fine while this happens: on imbalanced data (a background class
    covering most pixels) predicting the majority everywhere is a low-loss dead end, and
    the metrics of the minority classes are then zero.
    """
    if not context.confusion or not context.classes:
        return []
    matrix = np.asarray(context.confusion, dtype=np.float64)
    total = matrix.sum()
    if total == 0:
        return []
    predicted, actual = matrix.sum(axis=0) / total, matrix.sum(axis=1) / total
    top = int(predicted.argmax())
    others = np.arange(len(matrix)) != top
    others_total = matrix[others].sum()
    # The other classes' rows and pixels that were found: near zero when one class took all.
    other_recall = np.trace(matrix[np.ix_(others, others)]) / others_total if others_total \
        else 1.0
    if predicted[top] < limits.one_class_share or \
            other_recall >= limits.one_class_other_recall:
        return []
    name = context.classes[top]
    return [Finding(
        "one_class", "problem", f"Predicts almost only '{name}'",
        f"{predicted[top]:.0%} of the held-out predictions are '{name}', which is "
        f"{actual[top]:.0%} of the truth, and only {other_recall:.0%} of the other classes' "
        "rows are found: the model has settled on the majority answer, whatever the loss "
        "curve says.",
        evidence={"class": name, "predicted_share": round(float(predicted[top]), 4),
                  "true_share": round(float(actual[top]), 4),
                  "other_classes_recall": round(float(other_recall), 4)},
        advice=["task.class_weights: balanced (weights from the class counts)",
                "task.loss: {cross_entropy: 1, dice: 1} or focal, which keep rare classes in "
                "the loss", "a lower train.lr if the loss jumped early on"])]
