"""The confusion matrix, coloured so mistakes stand out: correct cells green, errors shaded
from white towards red by their share of the true class's rows.

The colours come from one function, ``cell_colour``, so the PNG and the HTML report's table
look the same.
"""

from __future__ import annotations

from pathlib import Path

from trainwise.reports.figure import new_figure, save_figure

GREEN = (0.17, 0.63, 0.17)
RED = (0.84, 0.15, 0.16)
WHITE = (1.0, 1.0, 1.0)
# A correct cell is never paler than this mix of green, so the diagonal always reads as
# "correct", even for a class the model never gets right.
DIAGONAL_FLOOR = 0.3
# Errors are shaded by share ** ERROR_GAMMA: below 1 it makes a 2-5 % error visibly pink
# rather than near-white, while 0 % stays pure white and 100 % full red.
ERROR_GAMMA = 0.5
# Above this perceived brightness a cell gets dark text, below it white text.
LIGHT_CELL = 0.6


def row_shares(matrix: list[list[int]]) -> list[list[float]]:
    """Each count as a share of its row (its true class); a row of zeros stays zeros."""
    shares = []
    for row in matrix:
        total = sum(row)
        shares.append([count / total if total else 0.0 for count in row])
    return shares


def cell_colour(share: float, correct: bool) -> tuple[float, float, float]:
    """A cell's background as RGB in 0-1.

    Args:
        share: the cell's count over its row's total (0-1).
        correct: whether the cell is on the diagonal (predicted class = true class).

    Returns:
        Green (paler for a lower share) on the diagonal; from white towards red by share
        off it.

    Example:
        >>> cell_colour(0.0, correct=False)
        (1.0, 1.0, 1.0)
    """
    share = min(max(float(share), 0.0), 1.0)
    if correct:
        return _mix(WHITE, GREEN, DIAGONAL_FLOOR + (1 - DIAGONAL_FLOOR) * share)
    return _mix(WHITE, RED, share ** ERROR_GAMMA)


def hex_colour(rgb: tuple[float, float, float]) -> str:
    """``(1.0, 0.5, 0.0)`` -> ``"#ff8000"``, for CSS."""
    return "#" + "".join(f"{round(channel * 255):02x}" for channel in rgb)


def text_colour(rgb: tuple[float, float, float]) -> str:
    """``"#1a1a1a"`` on light cells, ``"#ffffff"`` on dark ones, so counts stay readable."""
    red, green, blue = rgb
    brightness = 0.299 * red + 0.587 * green + 0.114 * blue  # ITU-R BT.601 luma
    return "#1a1a1a" if brightness > LIGHT_CELL else "#ffffff"


def cell_label(count: int, share: float) -> str:
    """What a cell shows: the count and its share of the row, e.g. ``"68\\n94.4 %"``; an
    empty cell just ``"0"`` (most cells of a good classifier: less to read, and to draw)."""
    return f"{count}\n{share * 100:.1f} %" if count else "0"


def plot_confusion_matrix(matrix: list[list[int]], classes: list[str], path: str | Path,
                          title: str = "confusion matrix") -> Path:
    """The matrix as a PNG: rows true classes, columns predicted, each cell with its count
    and row percentage.

    Args:
        matrix: counts, ``matrix[true][predicted]``, in the order of ``classes``.
        classes: the class names.
        path: the PNG to write.
        title: the plot's title (e.g. which split).

    Returns:
        ``path``.
    """
    shares = row_shares(matrix)
    size = len(classes)
    colours = [[cell_colour(shares[i][j], i == j) for j in range(size)] for i in range(size)]
    side = min(max(3.2, 0.6 * size + 2.4), 12.0)  # inches: ~0.6 per class keeps the text legible
    figure, axis = new_figure(side + 0.6, side)
    axis.imshow(colours, interpolation="nearest")
    font_size = max(5, 10 - size // 4)
    for i in range(size):
        for j in range(size):
            axis.text(j, i, cell_label(matrix[i][j], shares[i][j]), ha="center", va="center",
                      fontsize=font_size, color=text_colour(colours[i][j]))
    axis.set_xticks(range(size), classes, rotation=45 if _long_names(classes) else 0,
                    ha="right" if _long_names(classes) else "center")
    axis.set_yticks(range(size), classes)
    # White lines between cells, so neighbouring white error cells stay separate.
    axis.set_xticks([k - 0.5 for k in range(1, size)], minor=True)
    axis.set_yticks([k - 0.5 for k in range(1, size)], minor=True)
    axis.grid(which="minor", color="white", linewidth=2)
    axis.tick_params(which="minor", length=0)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    axis.set_title(f"{title}\n(count and % of the true class's rows)")
    return save_figure(figure, path)


def _mix(start: tuple, end: tuple, amount: float) -> tuple[float, float, float]:
    return tuple(round(a + (b - a) * amount, 4) for a, b in zip(start, end))


def _long_names(classes: list[str]) -> bool:
    return len(classes) > 4 or any(len(str(name)) > 8 for name in classes)
