"""Progress where the run is: plain lines every N epochs off a terminal, and in a Jupyter
kernel a live curve, updated in place and throttled (IPython's display faked, no browser)."""

from __future__ import annotations

import io
import sys
import types

import pytest

import trainwise
from tests.helpers import small_config
from trainwise.callbacks import notebook_curve
from trainwise.callbacks.progress import ProgressBar


class _Handle:
    def __init__(self, shown: list):
        self.shown = shown

    def update(self, obj) -> None:
        self.shown.append(obj)


@pytest.fixture
def notebook(monkeypatch):
    """A fake Jupyter kernel: ``IPython.get_ipython()`` is a ZMQInteractiveShell, and every
    ``display``/``update`` is recorded as (kind, object)."""
    shown: list = []
    ZMQInteractiveShell = type("ZMQInteractiveShell", (), {})
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: ZMQInteractiveShell()
    ipython.version_info = (8, 24, 0)  # matplotlib reads it when it first sets up a backend
    display = types.ModuleType("IPython.display")
    display.HTML = lambda text: ("html", text)
    display.Image = lambda data, format: ("png", data)
    display.display = lambda obj, display_id: shown.append(obj) or _Handle(shown)
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    return shown


def test_plain_lines_every_n_epochs_off_a_terminal(regression_csv, runs_dir, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("trainwise.callbacks.progress.sys.stderr", stream)
    config = {**small_config(regression_csv, epochs=7), "tracking": {"progress_every": 3}}
    trainwise.fit(config, runs_dir=runs_dir)

    assert [line.split()[1] for line in stream.getvalue().splitlines()
            if line.startswith("epoch")] == ["3/7", "6/7", "7/7"]


def test_not_a_notebook_without_a_kernel(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not notebook_curve.in_notebook()


def test_a_notebook_gets_a_live_curve_updated_in_place(regression_csv, runs_dir, notebook,
                                                       monkeypatch):
    monkeypatch.setattr(notebook_curve, "MIN_INTERVAL_S", 0.0)
    monkeypatch.setattr(notebook_curve, "DRAW_BUDGET", 1e9)  # draw whenever asked
    run = trainwise.fit(small_config(regression_csv, epochs=4), runs_dir=runs_dir, plots=True)

    statuses = [text for kind, text in notebook if kind == "html"]
    assert "epoch 4/4" in statuses[-1] and "val_loss" in statuses[-1]
    pngs = [data for kind, data in notebook if kind == "png"]
    assert all(png.startswith(b"\x89PNG") for png in pngs) and len(pngs) >= 2
    assert pngs[-1] == (run.path / "plots" / "loss.png").read_bytes()  # the record's own


def test_without_plots_the_notebook_curve_is_drawn_to_the_last_epoch(regression_csv, runs_dir,
                                                                     notebook, monkeypatch):
    monkeypatch.setattr(notebook_curve, "MIN_INTERVAL_S", 1e9)  # no update while training
    run = trainwise.fit(small_config(regression_csv, epochs=4), runs_dir=runs_dir)

    assert not (run.path / "plots" / "loss.png").exists()  # fit draws no plots by default
    pngs = [data for kind, data in notebook if kind == "png"]
    assert len(pngs) == 1 and pngs[0].startswith(b"\x89PNG")  # the final frame, at the end


def test_notebook_updates_are_throttled(notebook, monkeypatch):
    clock = iter(range(1000))
    monkeypatch.setattr(notebook_curve.time, "perf_counter", lambda: next(clock) * 0.01)
    curve = notebook_curve.NotebookCurve(("loss",), epochs=200)
    for epoch in range(1, 201):  # 200 epochs, 10 ms apart on the fake clock: 2 s
        curve.update([{"epoch": epoch, "loss": 1.0 / epoch}])

    statuses = [text for kind, text in notebook if kind == "html"][1:]  # after the empty one
    assert 4 <= len(statuses) <= 8  # every 0.25 s at most, not 200
    assert not [kind for kind, _ in notebook if kind == "png"]  # 2 s buys no 50 ms draw


def test_progress_bar_is_a_line_writer_in_ci(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("CI", "true")
    assert not ProgressBar(stream=Terminal())._is_terminal()
