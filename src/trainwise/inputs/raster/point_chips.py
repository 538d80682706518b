"""``prepare`` for scene classification: the chips of labelled points, one class each.

The split, the band statistics (valid pixels of the training chips) and the nodata rule
(invalid pixels reach the model as 0) are the segmentation path's; the labels are the points'
(``points.py``), encoded like the image kinds' classes.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from trainwise.data.prepare import PreparedData, tiny_split_warnings
from trainwise.inputs.raster.chips import SPLITS
from trainwise.inputs.raster.points import point_windows, read_points
from trainwise.inputs.raster.preprocess import RasterPreprocessor
from trainwise.inputs.raster.scene import files_fingerprint


def prepare_points(cfg, scenes: list, fitted: RasterPreprocessor | None,
                   scene_split) -> PreparedData:
    """Chips centred on ``data.raster.points``, split by the block or box of each point."""
    data_cfg, raster_cfg = cfg.data, cfg.data.raster
    chip, first = raster_cfg.chip_size, scenes[0]
    splits = [scene_split(cfg, scene, index) for index, scene in enumerate(scenes)]
    buffer_pixels = int(np.ceil(data_cfg.split.buffer / abs(first.dataset.transform.a)))
    points = read_points(raster_cfg.points)
    chosen, warnings = point_windows(points, scenes, splits, chip, buffer_pixels,
                                     raster_cfg.points)
    raw = {split: [(*scenes[index].read(window), str(label))
                   for index, window, label in chosen[split]] for split in SPLITS}
    if fitted is not None:
        fitted.check_bands(first.bands, f"data.source '{first.path}'")
        prep = fitted
    else:
        names = sorted({str(label) for label in points["label"]})
        prep = RasterPreprocessor.fit(
            ((values[None], valid[None]) for values, valid, _ in raw["train"]),
            first.band_names, chip, list(range(len(names))), names, data_cfg.target,
            first.nodata, None, task="classification")
    lookup = {name: index for index, name in enumerate(prep.classes)}
    arrays = {}
    for split, chips in raw.items():
        x = np.stack([prep.standardise(values, valid) for values, valid, _ in chips]) \
            if chips else np.zeros((0, first.bands, chip, chip), np.float32)
        y = np.asarray([lookup[label] for *_, label in chips], dtype=np.int64)
        arrays[split] = (x, y)
    summary = {
        "rows": {split: len(chips) for split, chips in raw.items()},
        "classes": {split: dict(sorted(Counter(label for *_, label in chips).items()))
                    for split, chips in raw.items()},
        "sample_shape": prep.sample_shape, "bands": prep.band_names, "scenes": len(scenes),
        "split": {"method": data_cfg.split.method, "buffer_pixels": buffer_pixels},
    }
    warnings += tiny_split_warnings(summary["rows"], cfg)
    if warnings:
        summary["warnings"] = warnings
    several = len(scenes) > 1
    ids = {split: [(f"scene {index}: " if several else "")
                   + f"row {window.row_off}, col {window.col_off}"
                   for index, window, _ in chosen[split]] for split in SPLITS}
    return PreparedData(prep, arrays, summary, files_fingerprint(data_cfg), sample_ids=ids)
