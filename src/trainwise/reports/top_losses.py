"""A classifier's worst mistakes ("top losses"): the table read from ``predictions.csv`` and,
for frames and images, a grid of the examples drawn from ``top_losses.npz``.

Both come from the run's files alone (``trainwise.top_losses`` writes them at the end of
training), so any finished run can be redrawn. Each example is titled
``actual → predicted (loss)``: 1-D frames as a line per channel, 2-D frames and single-band
images as an image of the first channel, three-channel images in colour.

Example:
    >>> top_loss_table(RunDirectory("runs/20261206-143054-frames"))   # doctest: +SKIP
    {'split': 'test', 'split_name': 'test', 'rows': [{'item': 'push/s005.npy#0', ...}]}
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trainwise.reports.figure import DPI, save_figure
from trainwise.tracking.run_dir import RunDirectory

TOP_LOSSES_FILE = "top_losses.npz"  # written by trainwise.top_losses at the end of a run
TOP_K = 16  # examples kept and rows listed: a 4 x 4 grid, a few hundred kB for small images
# The split whose mistakes are shown: test when there is one, else validation (as the
# report's prediction plots).
HELD_OUT_SPLITS = ("test", "val")
SPLIT_NAMES = {"val": "validation", "test": "test"}
GRID_COLUMNS = 4
PANEL_INCHES = (2.1, 1.8)  # width, height of one example
TITLE_FONT = 8
SUPTITLE_INCHES = 0.4  # the figure's title
PANEL_TITLE_INCHES = 0.3  # each panel's title line


def top_loss_table(run_dir: RunDirectory, k: int = TOP_K) -> dict | None:
    """The ``k`` misclassified held-out rows with the largest loss, largest first.

    Args:
        run_dir: the run.
        k: how many rows at most.

    Returns:
        ``{"split", "split_name", "errors", "rows": [{"rank", "item", "actual",
        "predicted", "confidence", "loss"}]}``, or None when ``predictions.csv`` has no
        ``loss`` column (a regression run, or one recorded before the column existed).
    """
    path = run_dir.file("predictions.csv")
    if not path.is_file():
        return None
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "loss" not in rows[0]:
        return None
    split = next((name for name in HELD_OUT_SPLITS if any(r["split"] == name for r in rows)),
                 None)
    chosen = [row for row in rows if row["split"] == split]
    # Tables without an item column name a row by its position in the split.
    wrong = [(position, row) for position, row in enumerate(chosen)
             if row["actual"] != row["predicted"]]
    wrong.sort(key=lambda pair: -float(pair[1]["loss"]))
    return {"split": split, "split_name": SPLIT_NAMES.get(split, split), "errors": len(wrong),
            "rows": [{"rank": rank, "item": row.get("item") or f"row {position}",
                      "actual": row["actual"], "predicted": row["predicted"],
                      "confidence": float(row["confidence"]), "loss": float(row["loss"])}
                     for rank, (position, row) in enumerate(wrong[:k], start=1)]}


def read_examples(run_dir: RunDirectory) -> dict | None:
    """``top_losses.npz`` as a dict of arrays, or None when missing or holding no example."""
    path = run_dir.file(TOP_LOSSES_FILE)
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as saved:  # plain arrays only, never pickles
        examples = {name: saved[name] for name in saved.files}
    return examples if len(examples.get("samples", ())) else None


def plot_top_losses(examples: dict, path: str | Path) -> Path:
    """A grid of the examples, worst first, each titled ``actual → predicted (loss)``.

    Args:
        examples: ``read_examples``'s arrays: ``samples`` (K, C, ...) in the input's own
            units, ``actual``, ``predicted``, ``loss``, ``kind`` and ``split``.
        path: the PNG to write.

    Returns:
        ``path``.
    """
    samples = examples["samples"]
    columns = min(GRID_COLUMNS, len(samples))
    rows = math.ceil(len(samples) / columns)
    width, height = PANEL_INCHES[0] * columns, PANEL_INCHES[1] * rows + SUPTITLE_INCHES
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    # Fixed margins, not constrained layout: every panel has the same one-line title, and
    # solving the layout cost more than drawing the examples (0.35 s for 16 frames).
    ticks = samples.ndim == 3  # 1-D frames are drawn as lines, with tick labels
    axes = figure.subplots(rows, columns, squeeze=False, gridspec_kw=dict(
        left=(0.4 if ticks else 0.1) / width, right=1 - 0.1 / width,
        bottom=(0.3 if ticks else 0.1) / height,
        top=1 - (SUPTITLE_INCHES + PANEL_TITLE_INCHES) / height, wspace=0.3 if ticks else 0.15,
        hspace=(PANEL_TITLE_INCHES + (0.35 if ticks else 0)) / PANEL_INCHES[1])).ravel()
    kind = str(examples["kind"])
    for axis, sample, actual, predicted, loss in zip(
            axes, samples, examples["actual"], examples["predicted"], examples["loss"]):
        draw_example(axis, sample, kind)
        axis.set_title(f"{actual} → {predicted} ({loss:.2f})", fontsize=TITLE_FONT)
    for axis in axes[len(samples):]:
        axis.set_axis_off()
    split = SPLIT_NAMES.get(str(examples["split"]), str(examples["split"]))
    figure.suptitle(f"top losses, {split} split: actual → predicted (loss)", fontsize=10)
    return save_figure(figure, path)


def draw_example(axis, sample: np.ndarray, kind: str) -> None:
    """One sample, (C, L) or (C, H, W), on ``axis``."""
    if sample.ndim == 2:  # 1-D frames: amplitude along range, one line per channel
        for channel in sample:
            axis.plot(channel, linewidth=1)
        axis.tick_params(labelsize=6)
        axis.margins(x=0)
        return
    if kind == "images" and sample.shape[0] == 3:
        low, high = float(sample.min()), float(sample.max())
        # Any pixel range (0-255, 0-1, a sensor's raw counts) shown over its full span.
        axis.imshow(np.moveaxis((sample - low) / (high - low or 1.0), 0, -1))
    else:
        axis.imshow(sample[0], cmap="gray" if kind == "images" else "viridis",
                    aspect="equal" if kind == "images" else "auto", interpolation="nearest")
    axis.set_xticks([])
    axis.set_yticks([])
