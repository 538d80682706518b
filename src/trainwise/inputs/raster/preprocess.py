"""The preprocessing of raster chips: per-band standardisation fitted on the training chips'
valid pixels, the nodata rules and the classes; saved as JSON with the run.

Band values are standardised by their own statistics (never divided by 255: reflectances
scaled ×10,000 and 8-bit pixels alike). Invalid pixels (nodata in any band, or unlabelled)
are set to 0, the band mean, so what a nodata pixel held never reaches the model, and their
labels become ``IGNORE_LABEL``.

Example:
    >>> bands = np.ones((1, 2, 4, 4), dtype=np.float32)                # (N, C, H, W)
    >>> valid = np.ones((1, 4, 4), dtype=bool)
    >>> prep = RasterPreprocessor.fit([(bands, valid)], ["b1", "b2"], 4, [0, 1], ["a", "b"],
    ...                               "label", None, None)
    >>> prep.band_mean, prep.band_std
    ([1.0, 1.0], [1.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from trainwise.errors import UserError
from trainwise.training.losses.pixels import IGNORE_LABEL


@dataclass
class RasterPreprocessor:
    """Band means and stds, the chip size, the nodata values and the classes."""

    target: str  # the label's name in outputs
    band_names: list[str]
    band_mean: list[float]
    band_std: list[float]
    chip_size: int
    class_values: list[int]  # each class's value in the label raster, in output order
    classes: list[str]  # their names
    nodata: float | None  # the scene's (or the configured) nodata value
    label_nodata: int | None
    kind: str = "raster"
    task: str = "segmentation"  # or "classification": a class per chip (data.raster.points)

    @classmethod
    def fit(cls, chips: Iterable[tuple[np.ndarray, np.ndarray]], band_names: list[str],
            chip_size: int, class_values: list[int], classes: list[str], target: str,
            nodata: float | None, label_nodata: int | None,
            task: str = "segmentation") -> RasterPreprocessor:
        """Statistics over the valid pixels of ``chips``: ``(bands (N, C, h, w), valid
        (N, h, w))`` pairs, accumulated in float64 one pair at a time."""
        bands = len(band_names)
        total, squares, count = np.zeros(bands), np.zeros(bands), 0
        for values, valid in chips:
            pixels = np.moveaxis(values, 1, 0)[:, valid].astype(np.float64)  # (C, valid pixels)
            total += pixels.sum(axis=1)
            squares += (pixels ** 2).sum(axis=1)
            count += pixels.shape[1]
        if count == 0:
            raise UserError("the training chips hold no valid pixel (every one is nodata or "
                            "unlabelled); check data.raster.nodata and the label raster")
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
        return cls(target, list(band_names), mean.tolist(),
                   [float(s) if s > 0 else 1.0 for s in std],  # a constant band stays put
                   chip_size, list(class_values), list(classes), nodata, label_nodata,
                   task=task)

    @property
    def n_outputs(self) -> int:
        return len(self.classes)

    @property
    def sample_shape(self) -> list[int]:
        return [len(self.band_names), self.chip_size, self.chip_size]

    @property
    def is_probabilistic(self) -> bool:
        return False

    @property
    def target_std(self) -> float:  # classes are not scaled (read by the running metric)
        return 1.0

    # The arrays kinds' names for the band statistics (read by the top-losses examples).
    @property
    def channel_mean(self) -> list[float]:
        return self.band_mean

    @property
    def channel_std(self) -> list[float]:
        return self.band_std

    def standardise(self, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """(…, C, h, w) band values -> standardised float32, invalid pixels 0."""
        view = (-1, 1, 1)
        mean = np.asarray(self.band_mean, dtype=np.float32).reshape(view)
        std = np.asarray(self.band_std, dtype=np.float32).reshape(view)
        scaled = (values.astype(np.float32) - mean) / std
        return np.where(np.expand_dims(valid, -3), scaled, np.float32(0)).astype(np.float32)

    def encode_labels(self, values: np.ndarray, usable: np.ndarray) -> np.ndarray:
        """Label-raster values -> class indices (int64); unusable pixels ``IGNORE_LABEL``."""
        lookup = np.full(max(max(self.class_values), int(values.max(initial=0))) + 2,
                         IGNORE_LABEL, dtype=np.int64)
        lookup[np.asarray(self.class_values)] = np.arange(len(self.class_values))
        codes = lookup[np.clip(values, -1, len(lookup) - 1)]
        return np.where(usable, codes, IGNORE_LABEL)

    def check_bands(self, count: int, source: str) -> None:
        if count != len(self.band_names):
            raise UserError(f"{source} has {count} bands, but the model was trained on "
                            f"{len(self.band_names)} ({', '.join(self.band_names)}); give a "
                            "scene with the same bands in the same order")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RasterPreprocessor:
        return cls(**data)
