"""Scene classification after training: classify a grid of chips, as a table or a map.

For a run trained on labelled points (``data.raster.points``), every chip of a regular grid
(``stride``, the last row and column ending at the scene's edge) is classified. The result
is a CSV (one row per chip: its centre in the scene's CRS, the class, each class's
probability) when the output ends in ``.csv``, else a GeoTIFF with one pixel per grid step
(the class value's index, 255 where the chip is mostly nodata) on a grid aligned with the
scene's, in its CRS. Both are written atomically.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import rasterio
import torch
from affine import Affine

from trainwise.atomic import write_atomic, write_text_atomic
from trainwise.inputs.raster.chips import grid_windows
from trainwise.inputs.raster.scene import open_scene

NODATA_CLASS = 255
MIN_VALID = 0.5  # a chip needs this share of valid pixels to be classified


def classify_chips(model: torch.nn.Module, prep, raster_path: str, out_path: str,
                   stride: int | None = None, batch_size: int = 64) -> dict:
    """Classify the grid's chips of ``raster_path``; write ``out_path`` (CSV or GeoTIFF).

    Raises:
        UserError: an unreadable scene, or one with other bands than the run's.
    """
    scene = open_scene(raster_path, "--raster", prep.nodata)
    try:
        prep.check_bands(scene.bands, f"--raster '{raster_path}'")
        chip = prep.chip_size
        step = stride or chip
        windows = grid_windows(scene.width, scene.height, chip, step)
        probabilities, usable = _classify(model, prep, scene, windows, batch_size)
        transform, crs = scene.dataset.transform, scene.dataset.crs
    finally:
        scene.close()
    predicted = probabilities.argmax(axis=1)
    if str(out_path).lower().endswith(".csv"):
        rows = pd.DataFrame({
            "x": [transform.c + (w.col_off + chip / 2) * transform.a for w in windows],
            "y": [transform.f + (w.row_off + chip / 2) * transform.e for w in windows],
            "row": [w.row_off for w in windows], "col": [w.col_off for w in windows],
            "predicted": [prep.classes[i] if ok else "" for i, ok in zip(predicted, usable)]})
        for index, name in enumerate(prep.classes):
            rows[f"prob_{name}"] = np.where(usable, probabilities[:, index], np.nan)
        write_text_atomic(out_path, rows.to_csv(index=False))
    else:
        _write_map(out_path, windows, predicted, usable, transform, crs, step)
    return {"path": str(out_path), "chips": len(windows), "classified": int(usable.sum()),
            "stride": step, "chip": chip}


def _classify(model, prep, scene, windows, batch_size: int):
    model.eval()
    outputs, usable = [], []
    with torch.inference_mode():
        for start in range(0, len(windows), batch_size):
            batch, valid_share = [], []
            for window in windows[start:start + batch_size]:
                values, valid = scene.read(window)
                batch.append(prep.standardise(values, valid))
                valid_share.append(valid.mean())
            logits = model(torch.from_numpy(np.stack(batch)))
            outputs.append(torch.softmax(logits.double(), dim=1).numpy())
            usable += [share >= MIN_VALID for share in valid_share]
    return np.concatenate(outputs), np.asarray(usable)


def _write_map(out_path: str, windows, predicted, usable, transform, crs, step: int) -> None:
    """One pixel per grid step: row r, column c is the chip whose top-left is (r, c) steps."""
    rows = sorted({w.row_off for w in windows})
    cols = sorted({w.col_off for w in windows})
    grid = np.full((len(rows), len(cols)), NODATA_CLASS, dtype=np.uint8)
    for window, label, ok in zip(windows, predicted, usable):
        if ok:
            grid[rows.index(window.row_off), cols.index(window.col_off)] = label
    # Pixels of ``step`` scene pixels from the same corner (the last row and column stand for
    # the chips moved back to end at the scene's edge).
    coarse = Affine(transform.a * step, transform.b, transform.c, transform.d,
                    transform.e * step, transform.f)
    profile = {"driver": "GTiff", "width": len(cols), "height": len(rows), "count": 1,
               "dtype": "uint8", "crs": crs, "transform": coarse, "nodata": NODATA_CLASS}

    def write(handle):
        with rasterio.MemoryFile() as memory:
            with memory.open(**profile) as dataset:
                dataset.write(grid, 1)
                dataset.set_band_description(1, "class index")
            handle.write(memory.read())
    write_atomic(out_path, write)
