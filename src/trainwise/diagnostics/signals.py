"""Small numeric helpers for reading curves: series, smoothing, tails, relative changes."""

from __future__ import annotations

import numpy as np

from trainwise.diagnostics.thresholds import Thresholds


def series(history: list[dict], key: str) -> np.ndarray:
    """The values of ``key`` per epoch as floats (NaN where absent)."""
    return np.array([_float(record.get(key)) for record in history], dtype=float)


def has(history: list[dict], key: str) -> bool:
    return any(record.get(key) is not None for record in history)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing rolling median: robust to single noisy epochs, never looks ahead."""
    out = np.empty_like(values)
    for i in range(len(values)):
        out[i] = np.nanmedian(values[max(0, i - window + 1): i + 1])
    return out


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
