"""Scene classification: one chip per labelled point, classified as a whole.

``data.raster.points`` is a CSV with columns ``x``, ``y`` (the scene's CRS) and ``label``;
each point's chip is the ``chip_size`` window centred on it (moved inside the scene at its
edges). The chip takes the split of the block (or box) its point lies in. A training chip
that comes within ``split.buffer`` of a held-out pixel is dropped (said in the summary),
and held-out chips that still overlap a training chip are counted and warned about: their
pixels were seen in training.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rasterio.windows import Window

from trainwise.errors import UserError
from trainwise.inputs.raster.chips import SPLITS, check_chip_fits
from trainwise.inputs.raster.scene import Scene

COLUMNS = ("x", "y", "label")


def read_points(path: str) -> pd.DataFrame:
    """The points table, checked.

    Raises:
        UserError: an unreadable file, a missing column, or non-numeric coordinates.
    """
    try:
        points = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise UserError(f"data.raster.points '{path}' cannot be read as CSV ({err}); give a "
                        "CSV with columns x, y, label") from None
    missing = [column for column in COLUMNS if column not in points.columns]
    if missing:
        raise UserError(f"data.raster.points '{path}' lacks the column(s) {missing}; it needs "
                        "x and y (in the scene's CRS) and label")
    for column in ("x", "y"):
        if not pd.api.types.is_numeric_dtype(points[column]) or points[column].isna().any():
            raise UserError(f"data.raster.points '{path}': column {column} must hold numbers "
                            "(coordinates in the scene's CRS) in every row")
    if points["label"].isna().any():
        raise UserError(f"data.raster.points '{path}': {int(points['label'].isna().sum())} "
                        "row(s) have no label; label them or remove them")
    return points


def point_windows(points: pd.DataFrame, scenes: list[Scene], splits: list, chip: int,
                  buffer_pixels: int, path: str) -> tuple[dict, list[str]]:
    """Per split, ``(scene index, window, label)`` of each point's chip, and warnings.

    Raises:
        UserError: points outside every scene (naming how many and the first).
    """
    chosen: dict[str, list] = {split: [] for split in SPLITS}
    placed = np.zeros(len(points), dtype=bool)
    dropped = 0
    for index, (scene, split) in enumerate(zip(scenes, splits)):
        check_chip_fits(chip, scene.width, scene.height)
        inverse = ~scene.dataset.transform
        cols = inverse.a * points["x"] + inverse.b * points["y"] + inverse.c
        rows = inverse.d * points["x"] + inverse.e * points["y"] + inverse.f
        inside = ~placed & (cols >= 0) & (cols < scene.width) & (rows >= 0) & \
            (rows < scene.height)
        for row, col, label in zip(rows[inside].astype(int), cols[inside].astype(int),
                                   points["label"][inside]):
            top = min(max(row - chip // 2, 0), scene.height - chip)
            left = min(max(col - chip // 2, 0), scene.width - chip)
            window = Window(left, top, chip, chip)
            code = int(split.split_of_pixels(Window(col, row, 1, 1))[0, 0])
            if code >= len(SPLITS):
                continue  # outside every box of a boxes split with train_boxes: in no split
            name = SPLITS[code]
            if name == "train" and not split.only_train(window, buffer_pixels, scene.width,
                                                        scene.height):
                dropped += 1
                continue
            chosen[name].append((index, window, label))
        placed |= inside.to_numpy()
    if not placed.all():
        first = points[~placed].iloc[0]
        raise UserError(f"data.raster.points '{path}': {int((~placed).sum())} point(s) lie "
                        f"outside every scene, e.g. ({first['x']}, {first['y']}); give x and y "
                        "in the scene's CRS, or remove those rows")
    warnings = []
    if dropped:
        warnings.append(f"{dropped} training point(s) were left out: their chips reach within "
                        "data.split.buffer of a validation or test block")
    leaks = _overlaps(chosen)
    if leaks:
        warnings.append(f"{leaks} validation or test chip(s) overlap a training chip, so some "
                        "of their pixels were seen in training; raise data.split.buffer (half "
                        "the chip size stops it) or use larger blocks")
    return chosen, warnings


def _overlaps(chosen: dict) -> int:
    """Held-out chips that share pixels with some training chip of the same scene."""
    train = [(index, window) for index, window, _ in chosen["train"]]
    count = 0
    for split in ("val", "test"):
        for index, window, _ in chosen[split]:
            count += any(own == index and _intersect(window, other) for own, other in train)
    return count


def _intersect(a: Window, b: Window) -> bool:
    return (a.row_off < b.row_off + b.height and b.row_off < a.row_off + a.height
            and a.col_off < b.col_off + b.width and b.col_off < a.col_off + a.width)
