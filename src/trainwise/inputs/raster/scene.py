"""A multi-band scene and its label raster, read window by window with rasterio.

Nothing here reads a whole raster at once: a scene larger than memory is read one chip (or
one block of rows) at a time. The label raster is read on the scene's grid: as it is when
the grids agree, through a nearest-neighbour ``WarpedVRT`` when ``data.raster.align_labels:
nearest`` asks for it, refused otherwise.

A pixel is *valid* when no band holds the scene's nodata value and its label is not the
label raster's nodata; everything downstream (band statistics, loss, metrics, the output
map) reads only valid pixels.
"""

from __future__ import annotations

import csv
import hashlib
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from trainwise.errors import UserError

ROWS_PER_READ = 512  # rows per window when a whole raster is scanned (class values)


@dataclass
class Scene:
    """An open scene and, for training, its label raster on the same grid."""

    path: str
    dataset: rasterio.DatasetReader
    nodata: float | None
    labels: rasterio.io.DatasetReaderBase | None = None
    label_nodata: int | None = None
    labels_path: str | None = None
    labels_field: str = "data.raster.labels"
    _stack: ExitStack | None = None

    @property
    def width(self) -> int:
        return self.dataset.width

    @property
    def height(self) -> int:
        return self.dataset.height

    @property
    def bands(self) -> int:
        return self.dataset.count

    @property
    def band_names(self) -> list[str]:
        return [name or f"band{i + 1}" for i, name in enumerate(self.dataset.descriptions)]

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """``(bands (C, h, w) float32, valid (h, w) bool)`` of one window of the scene."""
        values = self.dataset.read(window=window, out_dtype=np.float32)
        valid = np.ones(values.shape[1:], dtype=bool)
        if self.nodata is not None:
            valid &= ~(values == np.float32(self.nodata)).any(axis=0)
        valid &= np.isfinite(values).all(axis=0)
        return values, valid

    def read_labels(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """``(label values (h, w) int64, labelled (h, w) bool)`` of one window."""
        values = self.labels.read(1, window=window).astype(np.int64)
        labelled = np.ones(values.shape, dtype=bool) if self.label_nodata is None \
            else values != self.label_nodata
        return values, labelled

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()


def open_scene(path: str, field: str, nodata: float | None = None) -> Scene:
    """Open a scene for reading; ``field`` names where its path came from, for messages.

    Raises:
        UserError: a missing or unreadable file, or a scene without a CRS.
    """
    stack = ExitStack()
    dataset = stack.enter_context(_open(path, field))
    if dataset.crs is None:
        stack.close()
        raise UserError(f"{field} '{path}' has no CRS (coordinate reference system), so its "
                        "chips and maps cannot be placed; assign one (e.g. gdal_edit.py -a_srs "
                        "EPSG:32633 FILE) and try again")
    return Scene(path, dataset, dataset.nodata if nodata is None else nodata, _stack=stack)


def attach_labels(scene: Scene, path: str, align: str, label_nodata: int | None,
                  field: str = "data.raster.labels") -> Scene:
    """Open the label raster on ``scene``'s grid (see the module docstring).

    Raises:
        UserError: a missing file, more than one band, or another grid with ``align: refuse``.
    """
    labels = scene._stack.enter_context(_open(path, field))
    if labels.count != 1:
        raise UserError(f"{field} '{path}' has {labels.count} bands; a label raster "
                        "has one band of class values")
    nodata = labels.nodata if label_nodata is None else label_nodata
    same_grid = (labels.crs == scene.dataset.crs and labels.width == scene.width
                 and labels.height == scene.height
                 and labels.transform.almost_equals(scene.dataset.transform))
    if not same_grid:
        if align != "nearest":
            raise UserError(
                f"{field} '{path}' is on another grid than the scene "
                f"'{scene.path}': {_grid(labels)} vs {_grid(scene.dataset)}. Write the labels on "
                "the scene's grid, or set data.raster.align_labels: nearest to resample them "
                "onto it (nearest neighbour)")
        labels = scene._stack.enter_context(WarpedVRT(
            labels, crs=scene.dataset.crs, transform=scene.dataset.transform,
            width=scene.width, height=scene.height, resampling=Resampling.nearest,
            nodata=nodata if nodata is not None else 255))
        nodata = labels.nodata
    scene.labels, scene.label_nodata = labels, None if nodata is None else int(nodata)
    scene.labels_path, scene.labels_field = path, field
    return scene


def read_classes(scenes: list[Scene], classes_path: str | None) -> tuple[list[int], list[str]]:
    """The class values (as in the label rasters) and names, in the model's output order.

    From ``data.raster.classes``, else ``classes.csv`` beside the first label raster, else
    every value the label rasters hold (named by its value).

    Raises:
        UserError: a malformed classes file, or label values outside its list.
    """
    found = {scene.labels_path: _label_values(scene) for scene in scenes}
    path = classes_path or str(Path(scenes[0].labels_path).with_name("classes.csv"))
    if classes_path is None and not Path(path).is_file():
        values = sorted(set().union(*found.values()))
        return values, [str(value) for value in values]
    values, names = _read_classes_csv(path)
    for scene in scenes:
        unknown = sorted(found[scene.labels_path] - set(values))
        if unknown:
            raise UserError(
                f"{scene.labels_field} '{scene.labels_path}' holds values {unknown[:10]} that "
                f"are not in the class list '{path}' ({', '.join(map(str, values))}); add them "
                "to the list, or mark them as the label raster's nodata "
                "(data.raster.label_nodata)")
    return values, names


def _read_classes_csv(path: str) -> tuple[list[int], list[str]]:
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as err:
        raise UserError(f"data.raster.classes '{path}' cannot be read ({err.strerror}); give a "
                        "CSV with columns value,name") from None
    if not rows or not {"value", "name"} <= set(rows[0]):
        raise UserError(f"data.raster.classes '{path}' needs the columns value,name (one row "
                        "per class)")
    try:
        values = [int(row["value"]) for row in rows]
    except ValueError:
        raise UserError(f"data.raster.classes '{path}': every value must be a whole number "
                        "(the class's value in the label raster)") from None
    return values, [row["name"] for row in rows]


def _label_values(scene: Scene) -> set[int]:
    """Every labelled value of the label raster, scanned in blocks of rows."""
    found: set[int] = set()
    for top in range(0, scene.height, ROWS_PER_READ):
        window = Window(0, top, scene.width, min(ROWS_PER_READ, scene.height - top))
        values, labelled = scene.read_labels(window)
        found.update(np.unique(values[labelled]).tolist())
    return found


def _open(path: str, field: str):
    if not Path(path).is_file():
        raise UserError(f"{field} '{path}' does not exist; give the path of a GeoTIFF")
    try:
        return rasterio.open(path)
    except RasterioIOError as err:
        raise UserError(f"{field} '{path}' cannot be read as a raster ({err}); give a GeoTIFF")


def _grid(dataset) -> str:
    return f"{dataset.crs}, {dataset.width}x{dataset.height} pixels, origin " \
           f"({dataset.transform.c:g}, {dataset.transform.f:g}), pixel {dataset.transform.a:g}"


def files_fingerprint(data_cfg) -> str:
    """Every scene's, label raster's and table's path, size and modification time (as the
    array cache keys its entries): what a resume checks is unchanged."""
    parts = []
    paths = [data_cfg.source, data_cfg.raster.labels, data_cfg.raster.points,
             data_cfg.raster.classes]
    paths += [path for entry in data_cfg.raster.scenes for path in (entry.image, entry.labels)]
    for path in paths:
        if path and os.path.exists(path):
            stat = os.stat(path)
            parts.append(f"{os.path.abspath(path)}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
