"""Plots measured once and drawn once: labels stay inside the figure, whatever their size."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.transforms import Bbox
from PIL import Image

from trainwise.reports import figure as figure_module
from trainwise.reports.figure import DPI, EDGE_PAD_INCHES, new_figure, save_figure
from trainwise.reports.optimizer_curves import plot_learning_rate
from trainwise.reports.regression import plot_predicted_vs_actual

# One pixel of rounding on either side of the fitted edge.
SLACK_PX = 1.5


@pytest.fixture
def drawn(monkeypatch):
    """The figures ``save_figure`` frees, kept for inspection (they stay drawn)."""
    figures = []
    monkeypatch.setattr(figure_module.plt, "close", figures.append)
    return figures


def _ink(figure) -> Bbox:
    renderer = figure.canvas.get_renderer()
    return Bbox.union([axis.get_tightbbox(renderer) for axis in figure.axes])


def _assert_inside(figure) -> None:
    ink, edge = _ink(figure), figure.bbox
    assert ink.x0 >= -SLACK_PX and ink.y0 >= -SLACK_PX
    assert ink.x1 <= edge.x1 + SLACK_PX and ink.y1 <= edge.y1 + SLACK_PX


def test_margins_fit_wide_tick_labels_and_long_labels_snugly(tmp_path, drawn):
    figure, axis = new_figure()
    axis.plot(range(700), [12345.678 + step for step in range(700)], label="training")
    axis.set_ylabel("a long y label with units (standardised target)")
    axis.set_xlabel("epoch")
    axis.set_title("a title")
    axis.legend()
    path = save_figure(figure, tmp_path / "curve.png")
    _assert_inside(drawn[0])
    ink, pad = _ink(drawn[0]), EDGE_PAD_INCHES * DPI
    assert ink.x0 == pytest.approx(pad, abs=3) and ink.y0 == pytest.approx(pad, abs=3)
    with Image.open(path) as image:
        assert (image.mode, image.size) == ("RGB", (704, 440))  # 6.4 x 4 in at 110 dpi


def test_the_title_clears_the_epoch_axis_on_top(tmp_path, drawn):
    history = [{"epoch": epoch, "lr": 0.1 * 0.5 ** (epoch // 3)} for epoch in range(1, 11)]
    plot_learning_rate(history, [8 * epoch for epoch in range(1, 11)], "optimizer step",
                       tmp_path / "lr.png", best_epoch=4)
    figure = drawn[0]
    _assert_inside(figure)
    renderer = figure.canvas.get_renderer()
    axis = figure.axes[0]
    top_axis = axis.child_axes[0].get_tightbbox(renderer)
    assert axis.title.get_window_extent(renderer).y0 >= top_axis.y1 - SLACK_PX


def test_an_equal_aspect_plot_is_centred_and_inside(tmp_path, drawn):
    actual = [float(value) for value in range(10, 45)]
    plot_predicted_vs_actual(actual, [value * 1.1 for value in actual], tmp_path / "p.png",
                             target="a target with a long name")
    _assert_inside(drawn[0])


def test_constrained_figures_are_drawn_once_and_keep_their_engine(tmp_path, drawn):
    figure, axis = new_figure(layout="constrained")
    axis.plot([1, 2, 3], label="a")
    figure.legend(loc="outside lower center")
    save_figure(figure, tmp_path / "c.png")
    assert drawn[0].get_layout_engine() is not None
    _assert_inside(drawn[0])


def test_an_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="layout"):
        new_figure(layout="tight")


def test_no_figure_is_left_open_in_pyplot(tmp_path):
    before = plt.get_fignums()
    figure, axis = new_figure()
    axis.plot([1, 2])
    save_figure(figure, tmp_path / "x.png")
    assert plt.get_fignums() == before
    assert [path.name for path in tmp_path.iterdir()] == ["x.png"]  # no temporary left
