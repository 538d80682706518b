"""The preprocessing of array samples: per-channel standardisation fitted on the training
split, the sample shape, and the label encoding; saved as JSON with the run.

Example:
    >>> samples = np.arange(16, dtype=np.float32).reshape(2, 2, 2, 2)   # (N, C, H, W)
    >>> prep = ArrayPreprocessor.fit(samples, ["a", "b"], "classification", "label", "images")
    >>> prep.channel_mean, prep.classes
    ([5.5, 9.5], ['a', 'b'])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from trainwise.errors import UserError

CHUNK = 4096  # samples per pass when computing statistics over a memory-mapped cache


@dataclass
class ArrayPreprocessor:
    """Per-channel mean and std, the sample shape, and classes (or target scaling)."""

    kind: str  # "frames" or "images"
    task: str  # "classification" or "regression"
    target: str  # the label's name in predictions (<target>_pred)
    sample_shape: list[int]  # (C, ...) channels first
    channel_mean: list[float]
    channel_std: list[float]
    classes: list = field(default_factory=list)
    target_mean: float = 0.0
    target_std: float = 1.0

    @classmethod
    def fit(cls, samples: np.ndarray, labels: list, task: str, target: str,
            kind: str) -> ArrayPreprocessor:
        """Statistics of the training samples (float64 sums, in chunks), and the classes."""
        channels = samples.shape[1]
        total, squares, count = np.zeros(channels), np.zeros(channels), 0
        for start in range(0, len(samples), CHUNK):
            chunk = np.asarray(samples[start:start + CHUNK], dtype=np.float64)
            per_channel = np.moveaxis(chunk, 1, 0).reshape(channels, -1)
            total += per_channel.sum(axis=1)
            squares += (per_channel ** 2).sum(axis=1)
            count += per_channel.shape[1]
        mean = total / max(count, 1)
        std = np.sqrt(np.maximum(squares / max(count, 1) - mean ** 2, 0.0))
        prep = cls(kind, task, target, list(samples.shape[1:]), mean.tolist(),
                   [float(s) if s > 0 else 1.0 for s in std])  # a constant channel stays put
        if task == "classification":
            prep.classes = sorted(set(labels), key=lambda v: (isinstance(v, str), v))
        else:
            values = _numeric_labels(labels, target)
            prep.target_mean, prep.target_std = float(values.mean()), float(values.std()) or 1.0
        return prep

    @property
    def n_outputs(self) -> int:
        return len(self.classes) if self.task == "classification" else 1

    @property
    def is_probabilistic(self) -> bool:
        return False

    def transform_features(self, samples: np.ndarray, source: str = "the input") -> np.ndarray:
        """Standardised float32 samples; a sample of another shape is refused, naming it."""
        if list(samples.shape[1:]) != self.sample_shape:
            raise UserError(f"{source}: samples are shaped {tuple(samples.shape[1:])} "
                            f"(channels first), but the model was trained on "
                            f"{tuple(self.sample_shape)}; give inputs of that shape (the same "
                            "number of channels or bands, and the same size).")
        view = (1, -1) + (1,) * (len(self.sample_shape) - 1)
        mean = np.asarray(self.channel_mean, dtype=np.float32).reshape(view)
        std = np.asarray(self.channel_std, dtype=np.float32).reshape(view)
        scaled = np.subtract(samples, mean, dtype=np.float32)  # one new array, not three
        return np.divide(scaled, std, out=scaled)

    def transform_target(self, labels: list, source: str = "the input") -> np.ndarray:
        """Class indices (int64), or scaled values (float32) for regression."""
        if self.task != "classification":
            values = _numeric_labels(labels, source)
            return ((values - self.target_mean) / self.target_std).astype(np.float32)
        lookup = {value: i for i, value in enumerate(self.classes)}
        unknown = sorted({str(v) for v in labels if v not in lookup})
        if unknown:
            raise UserError(f"{source}: labels {unknown[:5]} were never seen in training "
                            f"(classes: {self.classes}); evaluate on the trained classes only.")
        return np.asarray([lookup[v] for v in labels], dtype=np.int64)

    def inverse_target(self, scaled: np.ndarray) -> np.ndarray:
        return scaled * self.target_std + self.target_mean

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ArrayPreprocessor:
        return cls(**data)


def _numeric_labels(labels: list, where: str) -> np.ndarray:
    try:
        values = np.asarray(labels, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"{where}: regression needs numeric labels, but they include "
                        f"{next(v for v in labels if not _is_number(v))!r}; use task.type: "
                        "classification for class names.") from None
    if not np.isfinite(values).all():
        raise UserError(f"{where}: labels include non-finite values; fix them.")
    return values


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
