"""Segmentation metrics from a pixel confusion matrix, as plain data.

Everything comes from one (K, K) confusion matrix (rows: actual class, columns: predicted),
so the pixels never need to be in memory at once: ``confusion_counts`` adds up numpy labels
in chunks, ``confusion_from_logits`` counts one batch of chips on the device (sum the
batches' matrices), and ``metrics_from_confusion`` turns the counts into the numbers.
Pixels labelled ``IGNORE_LABEL`` (nodata, outside the split) are in none of them.
"""

from __future__ import annotations

import numpy as np
import torch

from trainwise.training.losses.pixels import IGNORE_LABEL

CHUNK_PIXELS = 1 << 21
"""Pixels counted per chunk: a few int64 temporaries of this size (tens of MB) at a time."""


def segmentation_metrics(targets: np.ndarray, predicted: np.ndarray, classes: list,
                         chunk_pixels: int = CHUNK_PIXELS) -> dict:
    """Pixel accuracy, mean IoU, per-class IoU/F1/precision/recall and the confusion matrix.

    Args:
        targets: integer class indices of any shape, ``IGNORE_LABEL`` where ignored.
        predicted: predicted class indices, the same shape (their value at ignored pixels
            does not matter).
        classes: the class names, in index order.
        chunk_pixels: pixels counted at a time (bounds the memory, not the result).

    Returns:
        See ``metrics_from_confusion``.

    Raises:
        ValueError: shapes differ, or a label is outside ``0..K-1`` (targets may also be
            ``IGNORE_LABEL``).

    Example:
        >>> truth = np.array([[0, 0], [1, IGNORE_LABEL]])
        >>> found = segmentation_metrics(truth, np.array([[0, 1], [1, 0]]), ["land", "water"])
        >>> found["pixel_accuracy"], found["mean_iou"], found["pixels"]
        (0.6666666666666666, 0.5, 3)
    """
    return metrics_from_confusion(confusion_counts(targets, predicted, len(classes),
                                                   chunk_pixels), classes)


def confusion_counts(targets: np.ndarray, predicted: np.ndarray, n_classes: int,
                     chunk_pixels: int = CHUNK_PIXELS) -> np.ndarray:
    """The (K, K) int64 confusion matrix of the valid pixels, counted ``chunk_pixels`` at a time.

    Each chunk is one ``np.bincount`` of ``actual * K + predicted``: memory stays a few
    chunk-sized arrays however many pixels there are (a 100 M-pixel set is ~50 chunks).

    Raises:
        ValueError: as ``segmentation_metrics``.
    """
    targets, predicted = np.asarray(targets), np.asarray(predicted)
    if targets.shape != predicted.shape:
        raise ValueError(f"targets {targets.shape} and predictions {predicted.shape} differ "
                         "in shape")
    # Views when the arrays are contiguous; each chunk is then cast and masked on its own.
    flat_targets, flat_predicted = targets.reshape(-1), predicted.reshape(-1)
    counts, step = np.zeros(n_classes * n_classes, dtype=np.int64), max(int(chunk_pixels), 1)
    for start in range(0, flat_targets.size, step):
        actual = flat_targets[start:start + step].astype(np.int64, copy=False)
        guess = flat_predicted[start:start + step].astype(np.int64, copy=False)
        valid = actual != IGNORE_LABEL
        actual, guess = actual[valid], guess[valid]
        _check_labels(actual, "target", n_classes)
        _check_labels(guess, "predicted", n_classes)
        counts += np.bincount(actual * n_classes + guess, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


def confusion_from_logits(logits: torch.Tensor, targets: torch.Tensor,
                          n_classes: int) -> torch.Tensor:
    """The (K, K) int64 confusion matrix of a batch of chips, counted on the logits' device.

    No host sync and no logits copied to the host: sum the matrices of chunks of chips on
    the device and move the (K, K) total once (``metrics_from_confusion(total.cpu().numpy(),
    classes)``). Labels must be ``0..K-1`` or ``IGNORE_LABEL``; checking would need a sync
    (use ``confusion_counts`` on the host to get a clear error).

    Args:
        logits: (N, K, *spatial) logits; the prediction is the argmax over dim 1.
        targets: (N, *spatial) integer labels, ``IGNORE_LABEL`` where ignored.
        n_classes: K.

    Example:
        >>> logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 2.0, 1.0]]])   # (1, 2, 3)
        >>> confusion_from_logits(logits, torch.tensor([[0, 0, IGNORE_LABEL]]), 2).tolist()
        [[1, 1], [0, 0]]
    """
    if logits.shape[1] != n_classes or targets.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(f"confusion_from_logits needs (N, {n_classes}, *spatial) logits and "
                         f"(N, *spatial) labels; got {tuple(logits.shape)} and "
                         f"{tuple(targets.shape)}")
    cells = n_classes * n_classes
    index = targets.long() * n_classes + logits.argmax(dim=1)
    # Ignored pixels go to one extra bin that is dropped: a fixed-size scatter, where
    # bincount (its size read from the data) or a boolean selection would sync.
    index = torch.where(targets == IGNORE_LABEL, cells, index).reshape(-1)
    counts = torch.zeros(cells + 1, dtype=torch.int64, device=logits.device)
    counts.scatter_add_(0, index, torch.ones_like(index))
    return counts[:cells].reshape(n_classes, n_classes)


def metrics_from_confusion(confusion: np.ndarray, classes: list) -> dict:
    """The segmentation metrics of a (K, K) confusion matrix (rows actual, columns predicted).

    A class present in neither truth nor prediction has ``None`` for IoU, F1, precision and
    recall (there is nothing to measure) and is left out of ``mean_iou``. A class present in
    one of them has 0 for what is undefined (precision when never predicted, recall when
    never true), as scikit-learn's ``zero_division=0`` gives.

    Returns:
        Plain ints, floats and None (JSON-ready):

        - ``pixel_accuracy``: correct valid pixels / valid pixels (None without any).
        - ``mean_iou``: mean IoU over the classes in truth or prediction (None if none is).
        - ``per_class``: ``{name: {iou, f1, precision, recall, pixels, predicted_pixels}}``,
          ``pixels`` the true count and ``predicted_pixels`` the predicted one.
        - ``confusion_matrix``: list of lists, rows actual, columns predicted.
        - ``classes``: the names; ``pixels``: the valid pixel count.
        - ``dominant_class_share``, ``dominant_class``: the largest share of the predicted
          pixels one class takes, and which (None without pixels): near 1, the model
          predicts almost only that class.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    names = [str(name) for name in classes]
    if confusion.shape != (len(names), len(names)):
        raise ValueError(f"a confusion matrix for {len(names)} classes is "
                         f"{len(names)} x {len(names)}; got {confusion.shape}")
    actual, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    correct, total = np.diag(confusion), int(confusion.sum())
    per_class = {}
    for i, name in enumerate(names):
        per_class[name] = _class_scores(int(correct[i]), int(actual[i]), int(predicted[i]))
    ious = [scores["iou"] for scores in per_class.values() if scores["iou"] is not None]
    dominant = int(predicted.argmax())
    return {
        "pixel_accuracy": int(correct.sum()) / total if total else None,
        "mean_iou": float(np.mean(ious)) if ious else None,
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "classes": names,
        "pixels": total,
        "dominant_class_share": int(predicted[dominant]) / total if total else None,
        "dominant_class": names[dominant] if total else None,
    }


def _class_scores(hits: int, actual: int, predicted: int) -> dict:
    """One class's IoU, F1, precision, recall and pixel counts, from its counts."""
    scores = {"iou": None, "f1": None, "precision": None, "recall": None,
              "pixels": actual, "predicted_pixels": predicted}
    if actual == 0 and predicted == 0:
        return scores
    # IoU = TP / (TP + FP + FN) and F1 = 2TP / (2TP + FP + FN); their denominators are > 0
    # here, since the class is true or predicted somewhere.
    scores["iou"] = hits / (actual + predicted - hits)
    scores["f1"] = 2 * hits / (actual + predicted)
    scores["precision"] = hits / predicted if predicted else 0.0
    scores["recall"] = hits / actual if actual else 0.0
    return scores


def _check_labels(labels: np.ndarray, which: str, n_classes: int) -> None:
    """Raise ValueError for a label outside ``0..n_classes-1`` (it would land in another cell)."""
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{which} labels must be 0..{n_classes - 1}"
                         f"{' or IGNORE_LABEL' if which == 'target' else ''}; found "
                         f"{int(labels.min())}..{int(labels.max())}")
