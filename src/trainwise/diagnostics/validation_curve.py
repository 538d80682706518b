"""Reading the validation curve itself: below the training loss, or too noisy to trust."""

from __future__ import annotations

import numpy as np

from trainwise.diagnostics.context import DiagnosisContext
from trainwise.diagnostics.finding import Finding
from trainwise.diagnostics.signals import has, series
from trainwise.diagnostics.thresholds import Thresholds


def val_below_train(history: list[dict], context: DiagnosisContext,
                    limits: Thresholds) -> list[Finding]:
    if not has(history, "val_loss") or len(history) < limits.min_epochs:
        return []
    loss, val = series(history, "loss"), series(history, "val_loss")
    below = val < loss * (1 - limits.val_below_margin)
    share = float(np.mean(below))
    if share < limits.val_below_share:
        return []
    reasons = []
    if context.dropout:
        reasons.append(f"dropout ({context.dropout}) switches off units while training but not "
                       "while validating, so the training loss is measured on a weaker network")
    if context.batch_norm:
        reasons.append("batch norm uses each batch's statistics while training and the "
                       "running averages while validating")
    if context.input_noise:
        reasons.append("input noise or augmentation makes training rows harder than validation rows")
    if context.mixup:
        reasons.append(f"mixup (alpha {context.mixup}) trains on blends of row pairs against "
                       "blended targets, which no network can fit as well as real rows")
    reasons.append("the training loss is an average over the epoch while the weights were still "
                   "improving; the validation loss is measured at the end of it")
    reasons.append(f"the validation split is small ({context.val_rows} rows) and may simply be "
                   "easier" if context.val_rows else "the validation split may simply be easier")
    return [Finding(
        "val_below_train", "info", "Validation loss below training loss — not a bug",
        f"In {share:.0%} of epochs the validation loss was more than "
        f"{limits.val_below_margin:.0%} below the training loss. The usual reasons: "
        + "; ".join(reasons) + ".",
        [], {"share_of_epochs": share, "val_rows": context.val_rows},
        ["nothing to fix if the curves otherwise look healthy",
         "compare with `trainwise evaluate RUN --data <training rows>` to see both in eval mode"],
    )]


def noisy_validation(history: list[dict], context: DiagnosisContext,
                     limits: Thresholds) -> list[Finding]:
    if not has(history, "val_loss") or len(history) < 2 * limits.min_epochs:
        return []
    loss, val = series(history, "loss"), series(history, "val_loss")
    if not (np.all(loss > 0) and np.all(val > 0)):
        return []
    skip = max(1, len(history) // 10)  # the first epochs move fast for good reasons
    val_roughness = float(np.median(np.abs(np.diff(np.log(val[skip:])))))
    train_roughness = float(np.median(np.abs(np.diff(np.log(loss[skip:])))))
    ratio = val_roughness / max(train_roughness, 1e-12)
    if ratio < limits.noisy_ratio or val_roughness < limits.noisy_min_roughness:
        return []
    rows = f" of only {context.val_rows} rows" if context.val_rows else ""
    return [Finding(
        "noisy_validation", "warning", "The validation curve is too noisy to read",
        f"From epoch to epoch the validation loss moves by {val_roughness:.1%} (median), "
        f"{ratio:.1f}x as much as the training loss. A validation split{rows} is too small to "
        "measure small improvements, so early stopping and the best checkpoint react to noise.",
        [], {"val_roughness": val_roughness, "train_roughness": train_roughness,
             "ratio": float(ratio), "val_rows": context.val_rows},
        ["data.split.val: a larger share (e.g. 0.25)",
         "train.early_stopping.patience: higher, and min_delta above the noise",
         "repeat with several seeds and compare means"],
    )]
