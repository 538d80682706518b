"""Small numeric helpers for reading curves: series, smoothing, tails, relative changes."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from trainwise.diagnostics.thresholds import Thresholds


def series(history: list[dict], key: str) -> np.ndarray:
    """The values of ``key`` per epoch as floats (NaN where absent)."""
    return np.array([_float(record.get(key)) for record in history], dtype=float)


def has(history: list[dict], key: str) -> bool:
    return any(record.get(key) is not None for record in history)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing rolling median: robust to single noisy epochs, never looks ahead.

    Epoch i gets the median of the finite values among epochs i - window + 1 .. i (fewer at
    the start), NaN where all of them are missing. One vectorised median over a (n, window)
    view: a loop of ``nanmedian`` calls cost ~15 µs an epoch, every run's diagnosis.
    """
    values = np.asarray(values, dtype=float)
    if len(values) == 0 or window <= 1:
        return values.copy()
    padded = np.concatenate([np.full(window - 1, np.nan), values])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing window gives NaN
        return np.nanmedian(sliding_window_view(padded, window), axis=1)


def tail_length(n: int, limits: Thresholds) -> int:
    return min(n, max(limits.min_tail_epochs, int(round(n * limits.tail_share))))


def relative_drop(before: float, after: float) -> float:
    """How much ``after`` is below ``before``, as a fraction of ``before`` (negative: a rise)."""
    return (before - after) / abs(before) if before else 0.0


def epoch_of(index: int) -> int:
    """Epochs are counted from 1 in every message."""
    return int(index) + 1


def _float(value) -> float:
    return float("nan") if value is None else float(value)
