"""A classifier's per-row loss and confidence, and its worst mistakes kept as examples.

At the end of a classification run ``predictions.csv`` gets two columns per row: ``loss``,
the cross-entropy of the true class (``-log p(actual)``, from the model's logits, with no
class weights or focal factor: the same scale for every run) and ``confidence``, the
probability the model gave its predicted class. For array inputs (frames, images) the
highest-loss misclassified samples of the held-out split the report shows (test, else
validation) are saved, un-standardised, in ``top_losses.npz``, so reports and the dashboard
can draw them without the data (what fastai users know as "top losses").

Example:
    >>> scores = class_scores(model, features)                        # doctest: +SKIP
    >>> scores.loss.shape, scores.probabilities.shape                 # doctest: +SKIP
    ((120,), (120, 4))
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from trainwise.atomic import write_atomic
from trainwise.reports.top_losses import HELD_OUT_SPLITS, TOP_K
BATCH_ROWS = 1024  # samples per forward pass, so a large test split never fills memory


@dataclass
class ClassScores:
    """Per-row probabilities and the true class's cross-entropy."""

    probabilities: np.ndarray  # (N, classes) float64
    loss: np.ndarray  # (N,) -log p(true class), nats


def class_scores(model: torch.nn.Module, features: np.ndarray,
                 targets: np.ndarray) -> ClassScores:
    """Softmax probabilities and per-row cross-entropy, in batches, without gradients.

    Args:
        model: the classifier, on the CPU in eval mode.
        features: preprocessed samples, (N, ...) float32.
        targets: class indices, (N,).

    Returns:
        The probabilities and losses (float64: ``exp(-loss)`` is the true class's share).
    """
    log_probs = []
    with torch.inference_mode():
        for start in range(0, len(features), BATCH_ROWS):
            logits = model(torch.from_numpy(features[start:start + BATCH_ROWS]))
            log_probs.append(torch.log_softmax(logits.double(), dim=-1).numpy())
    log_p = np.concatenate(log_probs) if log_probs else np.zeros((0, 0))
    rows = np.arange(len(targets))
    return ClassScores(np.exp(log_p), -log_p[rows, np.asarray(targets, dtype=np.int64)])


def add_loss_columns(rows: pd.DataFrame, scores: ClassScores, classes: list) -> None:
    """Append ``confidence`` (probability of the predicted class) and ``loss`` to ``rows``."""
    index = {name: position for position, name in enumerate(classes)}
    predicted = np.asarray([index[name] for name in rows["predicted"]], dtype=np.int64)
    rows["confidence"] = scores.probabilities[np.arange(len(rows)), predicted]
    rows["loss"] = scores.loss


def top_loss_indices(actual: np.ndarray, predicted: np.ndarray, loss: np.ndarray,
                     k: int = TOP_K) -> np.ndarray:
    """Positions of the ``k`` misclassified rows with the largest loss, largest first."""
    wrong = np.flatnonzero(np.asarray(actual) != np.asarray(predicted))
    order = np.argsort(-loss[wrong], kind="stable")
    return wrong[order[:k]]


def raw_samples(samples: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """Undo per-channel standardisation: (N, C, ...) back to the input's own units."""
    view = (1, -1) + (1,) * (samples.ndim - 2)
    mean = np.asarray(mean, dtype=np.float32).reshape(view)
    std = np.asarray(std, dtype=np.float32).reshape(view)
    return (samples * std + mean).astype(np.float32)


def write_top_losses(path: str | Path, split: str, kind: str, samples: np.ndarray,
                     rows: pd.DataFrame, prep) -> None:
    """Save the split's worst mistakes (``TOP_K`` at most) to ``path``, atomically.

    Args:
        path: the ``.npz`` file.
        split: the held-out split the rows are from.
        kind: the input kind ("frames" or "images"), for how they are drawn.
        samples: the split's standardised samples, (N, C, ...).
        rows: the split's prediction rows, with ``item``, ``actual``, ``predicted``,
            ``confidence`` and ``loss``.
        prep: the array preprocessing (``channel_mean``, ``channel_std``).
    """
    loss = rows["loss"].to_numpy()
    chosen = top_loss_indices(rows["actual"].to_numpy(), rows["predicted"].to_numpy(), loss)
    content = {
        "samples": raw_samples(np.asarray(samples[chosen]), prep.channel_mean, prep.channel_std),
        "ids": np.asarray([str(item) for item in rows["item"].to_numpy()[chosen]]),
        "actual": np.asarray([str(name) for name in rows["actual"].to_numpy()[chosen]]),
        "predicted": np.asarray([str(name) for name in rows["predicted"].to_numpy()[chosen]]),
        "loss": loss[chosen].astype(np.float32),
        "confidence": rows["confidence"].to_numpy()[chosen].astype(np.float32),
        "split": np.asarray(split),
        "kind": np.asarray(kind),
    }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **content)
    write_atomic(path, lambda handle: handle.write(buffer.getvalue()))


def held_out_split(splits: list[str]) -> str | None:
    """The split whose examples are kept: test when evaluated, else validation."""
    return next((split for split in HELD_OUT_SPLITS if split in splits), None)
