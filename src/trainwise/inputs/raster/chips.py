"""Where chips come from: spatial blocks per split, random training chips, evaluation grids.

The scene is cut into square blocks of ``data.split.block_size`` (in the CRS's units). As for
tables (docs/spatial_splits.md), the blocks are dealt into ``folds`` folds by a seeded
permutation; fold ``fold`` is the test split, and a share ``val`` of the other blocks
validates. Blocks are rectangles, so whether a chip lies in one split is arithmetic on its
window; no per-pixel mask of the scene is ever held.

- **Training chips** are drawn at random positions (seeded, once per run) and kept only when
  their window, grown by ``data.split.buffer``, touches training blocks alone: no training
  chip overlaps (or comes within the buffer of) a validation or test pixel.
- **Evaluation chips** are a regular grid with ``data.raster.stride`` whose last row and
  column are moved back to end at the scene's edge, so every pixel is in a chip. A chip of
  the grid is kept for a split when it holds pixels of that split; its other pixels are
  ignored (not scored) there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from trainwise.errors import UserError

SPLITS = ("train", "val", "test")
# Random positions tried per training chip asked for, before giving up on finding more.
ATTEMPTS_PER_CHIP = 20


@dataclass(frozen=True)
class BlockSplit:
    """Which split each block of the scene belongs to (0 train, 1 val, 2 test)."""

    block_pixels: float  # block side in pixels (the CRS size over the pixel size)
    assignment: np.ndarray  # (block rows, block cols) int8

    def split_of_pixels(self, window: Window) -> np.ndarray:
        """(h, w) int8: the split of every pixel of ``window``."""
        rows = (np.arange(window.row_off, window.row_off + window.height) // self.block_pixels)
        cols = (np.arange(window.col_off, window.col_off + window.width) // self.block_pixels)
        return self.assignment[rows.astype(int)[:, None], cols.astype(int)[None, :]]

    def counts(self) -> dict:
        return {name: int((self.assignment == index).sum()) for index, name in enumerate(SPLITS)}

    def only_train(self, window: Window, buffer_pixels: int, width: int, height: int) -> bool:
        """Whether ``window`` grown by ``buffer_pixels`` (clipped to the scene) is all train."""
        top = max(0, window.row_off - buffer_pixels)
        left = max(0, window.col_off - buffer_pixels)
        bottom = min(height, window.row_off + window.height + buffer_pixels)
        right = min(width, window.col_off + window.width + buffer_pixels)
        first_row, last_row = int(top // self.block_pixels), int((bottom - 1) // self.block_pixels)
        first_col, last_col = int(left // self.block_pixels), int((right - 1) // self.block_pixels)
        return bool((self.assignment[first_row:last_row + 1, first_col:last_col + 1] == 0).all())


@dataclass(frozen=True)
class BoxSplit:
    """Named regions (``split.method: boxes``): pixel rectangles of the test and validation
    boxes (test first), and optionally the only region that trains (``train_boxes``)."""

    test: tuple[tuple[int, int, int, int], ...]  # (row0, col0, row1, col1), end exclusive
    val: tuple[tuple[int, int, int, int], ...]
    train: tuple[tuple[int, int, int, int], ...]  # empty: everything else trains
    outside: frozenset[str] = frozenset()  # boxes ("val_boxes[0]") that miss this scene
    has_train_boxes: bool = False  # train_boxes were given (maybe all outside this scene)

    def split_of_pixels(self, window: Window) -> np.ndarray:
        rows = np.arange(window.row_off, window.row_off + window.height)[:, None]
        cols = np.arange(window.col_off, window.col_off + window.width)[None, :]
        split = np.zeros((len(rows), cols.shape[1]), dtype=np.int8)
        if self.has_train_boxes:  # outside every training box and held-out box: no split (3)
            split[:] = 3
            for box in self.train:
                split[_inside(box, rows, cols)] = 0
        for index, boxes in ((1, self.val), (2, self.test)):  # test last: it takes precedence
            for box in boxes:
                split[_inside(box, rows, cols)] = index
        return split

    def only_train(self, window: Window, buffer_pixels: int, width: int, height: int) -> bool:
        grown = Window(window.col_off - buffer_pixels, window.row_off - buffer_pixels,
                       window.width + 2 * buffer_pixels, window.height + 2 * buffer_pixels)
        if any(_overlaps(box, grown) for box in (*self.val, *self.test)):
            return False
        return not self.has_train_boxes or any(_contains(box, window) for box in self.train)

    def counts(self) -> dict:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def box_split(transform, width: int, height: int, split_cfg) -> BoxSplit:
    """The boxes of ``split_cfg`` (CRS units) as pixel rectangles of one scene; the boxes
    that miss it are listed in ``outside`` (``check_boxes_found`` checks them all)."""
    outside = set()

    def pixels(name: str) -> tuple:
        rectangles = []
        for index, (x_min, y_min, x_max, y_max) in enumerate(getattr(split_cfg, name)):
            cols, rows = _apply(~transform, np.array([x_min, x_max]), np.array([y_max, y_min]))
            row0, col0 = max(0, int(np.floor(rows.min()))), max(0, int(np.floor(cols.min())))
            row1, col1 = min(height, int(np.ceil(rows.max()))), min(width, int(np.ceil(cols.max())))
            if row0 >= row1 or col0 >= col1:
                outside.add(f"{name}[{index}]")
            else:
                rectangles.append((row0, col0, row1, col1))
        return tuple(rectangles)
    test, val, train = pixels("test_boxes"), pixels("val_boxes"), pixels("train_boxes")
    return BoxSplit(test, val, train, frozenset(outside), bool(split_cfg.train_boxes))


def check_boxes_found(splits: list[BoxSplit], split_cfg, bounds: list[list[float]]) -> None:
    """Every box must lie (at least partly) in some scene.

    Raises:
        UserError: naming the first box that lies outside every scene, and the scenes' bounds.
    """
    missing = frozenset.intersection(*(split.outside for split in splits))
    for name in ("test_boxes", "val_boxes", "train_boxes"):
        for index, box in enumerate(getattr(split_cfg, name)):
            if f"{name}[{index}]" in missing:
                raise UserError(f"data.split.{name}[{index}] = {list(box)} lies outside the "
                                f"scene (bounds {', '.join(map(str, bounds))} in the scene's "
                                "CRS); give boxes as [x_min, y_min, x_max, y_max] in the "
                                "scene's CRS units")


def scene_bounds(transform, width: int, height: int) -> list[float]:
    """[x_min, y_min, x_max, y_max] of a scene in its CRS."""
    return _bounds(transform, width, height)


def _inside(box, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    row0, col0, row1, col1 = box
    return (rows >= row0) & (rows < row1) & (cols >= col0) & (cols < col1)


def _overlaps(box, window: Window) -> bool:
    row0, col0, row1, col1 = box
    return (window.row_off < row1 and window.row_off + window.height > row0
            and window.col_off < col1 and window.col_off + window.width > col0)


def _contains(box, window: Window) -> bool:
    row0, col0, row1, col1 = box
    return (window.row_off >= row0 and window.row_off + window.height <= row1
            and window.col_off >= col0 and window.col_off + window.width <= col1)


def _apply(transform, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``transform`` applied to points (written out: affine's ``*`` warns it is deprecated)."""
    return (transform.a * x + transform.b * y + transform.c,
            transform.d * x + transform.e * y + transform.f)


def _bounds(transform, width: int, height: int) -> list[float]:
    (left, right), (top, bottom) = _apply(transform, np.array([0.0, width]),
                                          np.array([0.0, height]))
    return [round(min(left, right), 3), round(min(top, bottom), 3), round(max(left, right), 3),
            round(max(top, bottom), 3)]


def block_split(width: int, height: int, pixel_size: float, split_cfg, seed: int) -> BlockSplit:
    """Deal the scene's blocks into train, val and test (see the module docstring).

    ``split.method: none`` makes every block a training block.

    Raises:
        UserError: blocks so large that a split gets none, or no training block is left.
    """
    if split_cfg.method == "none":
        return BlockSplit(float(max(width, height)), np.zeros((1, 1), dtype=np.int8))
    block_pixels = split_cfg.block_size / pixel_size
    shape = (math.ceil(height / block_pixels), math.ceil(width / block_pixels))
    count = shape[0] * shape[1]
    rng = np.random.default_rng(seed)
    fold = rng.permutation(count) % split_cfg.folds
    assignment = np.zeros(count, dtype=np.int8)
    assignment[fold == split_cfg.fold] = 2
    rest = np.flatnonzero(fold != split_cfg.fold)
    n_val = round(len(rest) * split_cfg.val)
    assignment[rng.permutation(rest)[:n_val]] = 1
    counts = np.bincount(assignment, minlength=3)
    needed = ["train", "test"] + (["val"] if split_cfg.val > 0 else [])
    empty = [name for name in needed if counts[SPLITS.index(name)] == 0]
    if empty:
        raise UserError(
            f"data.split.block_size {split_cfg.block_size:g} makes {count} blocks of "
            f"{block_pixels:.0f} pixels on this {width}x{height} scene, which leaves the "
            f"{' and '.join(empty)} split without blocks; use a smaller block_size (or fewer "
            "folds)")
    return BlockSplit(block_pixels, assignment.reshape(shape))


def training_windows(blocks: BlockSplit, labelled_share, width: int, height: int,
                     chip: int, count: int, buffer_pixels: int, min_labelled: float,
                     seed: int) -> list[Window]:
    """Up to ``count`` random chip windows inside the training blocks (with the buffer) whose
    share of labelled, valid pixels (``labelled_share(window)``) is at least ``min_labelled``.

    Raises:
        UserError: the chip is larger than the scene, or no window qualifies.
    """
    check_chip_fits(chip, width, height)
    rng = np.random.default_rng([seed, 0x63686970])  # "chip": its own stream
    windows: list[Window] = []
    for _ in range(count * ATTEMPTS_PER_CHIP):
        if len(windows) == count:
            break
        window = Window(int(rng.integers(0, width - chip + 1)),
                        int(rng.integers(0, height - chip + 1)), chip, chip)
        if blocks.only_train(window, buffer_pixels, width, height) and \
                labelled_share(window) >= min_labelled:
            windows.append(window)
    if not windows:
        raise UserError(f"no training chip of {chip} pixels fits inside the training blocks with "
                        f"at least {min_labelled:.0%} labelled pixels; use a smaller "
                        "data.raster.chip_size, a larger data.split.block_size, a smaller "
                        "data.split.buffer, or a lower data.raster.min_labelled")
    return windows


def grid_windows(width: int, height: int, chip: int, stride: int) -> list[Window]:
    """A regular grid of chip windows covering every pixel (the last ones end at the edge)."""
    check_chip_fits(chip, width, height)
    return [Window(col, row, chip, chip) for row in _starts(height, chip, stride)
            for col in _starts(width, chip, stride)]


def _starts(size: int, chip: int, stride: int) -> list[int]:
    starts = list(range(0, size - chip + 1, stride))
    if starts[-1] != size - chip:
        starts.append(size - chip)  # the last chip ends at the edge
    return starts


def check_chip_fits(chip: int, width: int, height: int) -> None:
    if chip > width or chip > height:
        raise UserError(f"data.raster.chip_size {chip} is larger than the scene "
                        f"({width}x{height} pixels); use a chip_size of at most "
                        f"{min(width, height)}")
