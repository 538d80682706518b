"""A classifier's worst mistakes kept as examples.

A classification run's ``predictions.csv`` has each row's ``loss`` (the cross-entropy of the
true class) and ``confidence`` (``tasks.classification``). For array inputs (frames,
images) the highest-loss misclassified samples of the held-out split the report shows
(test, else validation) are saved, un-standardised, in ``top_losses.npz``, so reports and
the dashboard can draw them without the data (what fastai users know as "top losses").
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from trainwise.atomic import write_atomic
from trainwise.reports.top_losses import HELD_OUT_SPLITS, TOP_K


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
