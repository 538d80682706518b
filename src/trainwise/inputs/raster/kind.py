"""The raster input kind: a multi-band scene and its label raster, trained as chips.

``prepare`` splits the scene into spatial blocks (``chips.py``), reads random training chips
and a regular grid of evaluation chips window by window (``scene.py``), fits per-band
standardisation on the training chips' valid pixels and encodes labels with ignored pixels
(``preprocess.py``). The chips are small arrays held in memory; the scene itself never is.
Maps of whole scenes after training come from ``mapping.py`` (``trainwise segment``).
"""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np
import torch
from rasterio.windows import Window

from trainwise.data.prepare import PreparedData, tiny_split_warnings
from trainwise.data.split import split_seed
from trainwise.errors import UserError
from trainwise.inputs.base import InputKind
from trainwise.inputs.raster.chips import (SPLITS, BlockSplit, BoxSplit, block_split,
                                           box_split, check_boxes_found, grid_windows,
                                           scene_bounds, training_windows)
from trainwise.inputs.raster.point_chips import prepare_points
from trainwise.inputs.raster.preprocess import RasterPreprocessor
from trainwise.inputs.raster.scene import (Scene, attach_labels, files_fingerprint, open_scene,
                                           read_classes)
from trainwise.training.augment import AugmentedBatches, build_augmenter
from trainwise.training.batches import InMemoryBatches
from trainwise.training.losses.pixels import IGNORE_LABEL
from trainwise.training.segmentation_augment import AugmentedPairs


class Raster(InputKind):
    """``data.kind: raster``: chips of a GeoTIFF scene labelled by a label raster."""

    name = "raster"

    def prepare(self, cfg, fitted: RasterPreprocessor | None = None,
                refit_target: bool = True) -> PreparedData:
        raster_cfg = cfg.data.raster
        with ExitStack() as stack:
            scenes = []
            for image, labels, field in scene_files(cfg):
                scene = open_scene(image, f"{field}image" if field else "data.source",
                                   raster_cfg.nodata)
                stack.callback(scene.close)
                if labels:
                    attach_labels(scene, labels, raster_cfg.align_labels,
                                  raster_cfg.label_nodata,
                                  f"{field}labels" if field else "data.raster.labels")
                scenes.append(scene)
            if raster_cfg.points:
                _check_same_bands(scenes)
                return prepare_points(cfg, scenes, fitted, _scene_split)
            return self._prepare(cfg, scenes, fitted, refit_target)

    def _prepare(self, cfg, scenes: list[Scene], fitted: RasterPreprocessor | None,
                 refit_target: bool = True) -> PreparedData:
        data_cfg, raster_cfg = cfg.data, cfg.data.raster
        _check_same_bands(scenes)
        fitted, class_values, classes = _classes(scenes, fitted, refit_target, raster_cfg)
        chip = raster_cfg.chip_size
        windows: dict[str, list] = {split: [] for split in SPLITS}
        raw: dict[str, list] = {split: [] for split in SPLITS}
        splits = []
        areas = np.array([scene.width * scene.height for scene in scenes], dtype=np.float64)
        for index, scene in enumerate(scenes):
            # Chips per scene in proportion to its area; scene 0 draws as a lone scene would.
            count = max(1, round(raster_cfg.train_chips * areas[index] / areas.sum()))
            split, scene_windows, scene_raw = _scene_chips(cfg, scene, index, count,
                                                           class_values)
            splits.append(split)
            for name in SPLITS:
                windows[name] += [(index, window) for window in scene_windows[name]]
                raw[name] += scene_raw[name]
        if data_cfg.split.method == "boxes":
            check_boxes_found(splits, data_cfg.split, [
                scene_bounds(s.dataset.transform, s.width, s.height) for s in scenes])
        first = scenes[0]
        prep = fitted or RasterPreprocessor.fit(
            ((values[None], scored[None]) for values, _, scored, _ in raw["train"]),
            first.band_names, chip, class_values, classes, data_cfg.target, first.nodata,
            first.label_nodata)
        arrays = {split: _encode(prep, chips, chip, first.bands) for split, chips in raw.items()}
        summary = _summary(arrays, windows, splits, prep, abs(first.dataset.transform.a),
                           data_cfg)
        warnings = tiny_split_warnings(summary["rows"], cfg)
        if warnings:
            summary["warnings"] = warnings
        several = len(scenes) > 1
        ids = {split: [(f"scene {index}: " if several else "")
                       + f"row {w.row_off}, col {w.col_off}" for index, w in split_windows]
               for split, split_windows in windows.items()}
        return PreparedData(prep, arrays, summary, files_fingerprint(data_cfg), sample_ids=ids)

    def input_shape(self, prep: RasterPreprocessor) -> tuple[int, ...]:
        return tuple(prep.sample_shape)

    def batches(self, data: PreparedData, cfg, device: torch.device):
        x_train, y_train = (torch.from_numpy(a).to(device) for a in data.arrays["train"])
        batches = InMemoryBatches(x_train, y_train, cfg.train.batch_size, cfg.train.seed)
        augmenter = build_augmenter(cfg.data.augment, self.input_shape(data.preprocessor))
        if augmenter is None:
            return batches
        if data.preprocessor.task == "classification":  # one label per chip: it stays put
            return AugmentedBatches(batches, augmenter, cfg.train.seed)
        return AugmentedPairs(batches, augmenter, cfg.train.seed)

    def load_preprocessing(self, saved: dict) -> RasterPreprocessor:
        return RasterPreprocessor.from_dict(saved)

    # After training, a raster run maps whole scenes (``mapping.py``); reading raw inputs
    # for ``predict`` / ``evaluate`` stops at ``read``, so the steps after it never run.
    def read(self, path: str, field: str, cfg, labelled: bool = False):
        raise UserError(f"{field} '{path}': {MAPS_ONLY}")

    def features(self, prep, raw, source: str, unseen_categories: str):
        raise UserError(f"{source}: {MAPS_ONLY}")

    def targets(self, prep, raw, source: str):
        raise UserError(f"{source}: {MAPS_ONLY}")

    def index(self, raw):
        raise UserError(MAPS_ONLY)

    def identify(self, raw):
        raise UserError(MAPS_ONLY)


MAPS_ONLY = ("a raster run maps whole scenes with `trainwise segment RUN --raster SCENE.tif "
             "--out MAP.tif`, and its held-out chips are scored in metrics.json; predict and "
             "evaluate read tables, frames and images")


def scene_files(cfg) -> list[tuple[str, str, str | None]]:
    """``(image, labels, config field prefix)`` of every scene: data.source first."""
    raster_cfg = cfg.data.raster
    return [(cfg.data.source, raster_cfg.labels, None)] + [  # labels None: points label chips
        (entry.image, entry.labels, f"data.raster.scenes[{index}].")
        for index, entry in enumerate(raster_cfg.scenes)]


def _check_same_bands(scenes: list[Scene]) -> None:
    first = scenes[0]
    for scene in scenes[1:]:
        if scene.band_names != first.band_names:
            raise UserError(f"scene '{scene.path}' has bands {scene.band_names}, but "
                            f"'{first.path}' has {first.band_names}; every scene of a run needs "
                            "the same bands in the same order")


def _classes(scenes: list[Scene], fitted: RasterPreprocessor | None, refit_target: bool,
             raster_cfg) -> tuple[RasterPreprocessor | None, list[int], list[str]]:
    """The preprocessing to reuse (or None: fit one) and the class values and names."""
    first = scenes[0]
    if fitted is not None and refit_target and fitted.band_names != first.band_names:
        # Transfer from a run on other bands (init_from, not strict): its band statistics
        # do not apply, so fit afresh; its class order stays when the classes are the same.
        class_values, classes = read_classes(scenes, raster_cfg.classes)
        if sorted(zip(fitted.class_values, fitted.classes)) == sorted(zip(class_values, classes)):
            class_values, classes = fitted.class_values, fitted.classes
        return None, class_values, classes
    if fitted is not None:
        try:
            fitted.check_bands(first.bands, f"data.source '{first.path}'")
        except UserError as err:
            if refit_target:
                raise
            raise UserError(f"{err}; or, to start from that run on these bands, set "
                            "model.init_from_strict: false to copy and scale the first "
                            "convolution") from None
        return fitted, fitted.class_values, fitted.classes
    return None, *read_classes(scenes, raster_cfg.classes)


def _scene_chips(cfg, scene: Scene, index: int, train_chips: int, class_values: list[int]):
    """One scene's split (blocks or boxes), chip windows per split and their raw pixels."""
    data_cfg, raster_cfg = cfg.data, cfg.data.raster
    pixel_size = abs(scene.dataset.transform.a)
    split = _scene_split(cfg, scene, index)
    chip = raster_cfg.chip_size
    buffer_pixels = int(np.ceil(data_cfg.split.buffer / pixel_size))
    read = _usable_reader(scene, class_values)
    kept = {}  # the pixels of each window training_windows keeps: read once, not twice

    def labelled_share(window: Window) -> float:
        pixels = read(window)
        share = pixels[2].mean()
        if share >= raster_cfg.min_labelled:  # the last test: training_windows keeps it
            kept[window.col_off, window.row_off] = pixels
        return share

    windows = {"train": training_windows(
        split, labelled_share, scene.width, scene.height, chip, train_chips, buffer_pixels,
        raster_cfg.min_labelled, cfg.train.seed + SCENE_SEED_STEP * index)}
    grid = grid_windows(scene.width, scene.height, chip, raster_cfg.eval_stride)
    for position, name in enumerate(SPLITS[1:], start=1):
        windows[name] = [w for w in grid if (split.split_of_pixels(w) == position).any()]
    raw = {name: [_read_chip(read, split, window, name) for window in name_windows]
           for name, name_windows in windows.items() if name != "train"}
    raw["train"] = [_read_chip(lambda w: kept.get((w.col_off, w.row_off)) or read(w), split,
                               window, "train") for window in windows["train"]]
    return split, windows, raw


def _scene_split(cfg, scene: Scene, index: int) -> BlockSplit | BoxSplit:
    """Scene ``index``'s blocks (each scene deals its own; the first as a lone scene would)
    or the boxes that fall in it."""
    split_cfg = cfg.data.split
    if split_cfg.method == "boxes":
        return box_split(scene.dataset.transform, scene.width, scene.height, split_cfg)
    return block_split(scene.width, scene.height, abs(scene.dataset.transform.a), split_cfg,
                       split_seed(cfg) + SCENE_SEED_STEP * index)


SCENE_SEED_STEP = 7919  # a prime: scene k's blocks and chips draw from seed + k * this


def _usable_reader(scene: Scene, class_values: list[int]):
    """``window -> (bands, valid, usable, labels)``: usable pixels are valid (no band is
    nodata) and carry a label of the class list."""
    known = np.asarray(class_values)

    def read(window: Window):
        values, valid = scene.read(window)
        labels, labelled = scene.read_labels(window)
        return values, valid, valid & labelled & np.isin(labels, known), labels
    return read


NO_LABEL = np.iinfo(np.int64).min  # marks a pixel outside the chip's split, before encoding


def _read_chip(read, blocks: BlockSplit | BoxSplit, window: Window, split: str):
    """``(bands, valid, scored, labels)``: ``valid`` pixels have data in every band (the
    model sees the others as 0); ``scored`` ones are also labelled and in ``split``, and only
    they keep their label."""
    values, valid, usable, labels = read(window)
    scored = usable & (blocks.split_of_pixels(window) == SPLITS.index(split))
    # Band statistics read only scored pixels: a nodata strip or an unlabelled area never
    # moves them, and neither do the pixels of another split.
    return values, valid, scored, np.where(scored, labels, NO_LABEL)


def _encode(prep: RasterPreprocessor, chips: list, chip: int, bands: int):
    """A split's chips as (x (N, C, h, w) float32, y (N, h, w) int64)."""
    if not chips:
        return (np.zeros((0, bands, chip, chip), np.float32), np.zeros((0, chip, chip), np.int64))
    x = np.stack([prep.standardise(values, valid) for values, valid, _, _ in chips])
    y = np.stack([prep.encode_labels(np.maximum(labels, -1), labels != NO_LABEL)
                  for *_, labels in chips])
    return x, y


def _summary(arrays: dict, windows: dict, splits: list, prep: RasterPreprocessor,
             pixel_size: float, data_cfg) -> dict:
    """data_summary.json: chips and labelled pixels per split, class pixels, blocks, bands."""
    pixels = {split: np.bincount(y[y != IGNORE_LABEL], minlength=len(prep.classes)).tolist()
              for split, (_, y) in arrays.items()}
    regions = "blocks" if isinstance(splits[0], BlockSplit) else "boxes"
    counts = {name: sum(split.counts()[name] for split in splits) for name in SPLITS}
    split_summary = {"method": data_cfg.split.method, regions: counts,
                     "buffer_pixels": int(np.ceil(data_cfg.split.buffer / pixel_size))}
    if regions == "blocks":
        split_summary["block_pixels"] = round(splits[0].block_pixels, 2)
    return {
        "rows": {split: len(split_windows) for split, split_windows in windows.items()},
        "labelled_pixels": {split: int(sum(counts)) for split, counts in pixels.items()},
        "classes": {split: dict(zip(prep.classes, counts)) for split, counts in pixels.items()},
        "sample_shape": prep.sample_shape,
        "bands": prep.band_names,
        "scenes": len(splits),
        "split": split_summary,
    }
