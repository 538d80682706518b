"""The dashboard with a frames run, in a real browser (Debian's Chromium driven by
Playwright): started from the runs page, its curves and live confusion matrix arrive, and once
it has finished its per-class accuracy and its worst mistakes, drawn, are on the page."""

from __future__ import annotations

import os

import pytest
import yaml

from tests.serve_support import (NEEDS_CHROMIUM, WAIT_MS, LiveServer, chromium,
                                 kill_trainings, local_page, serve_settings)
from trainwise.datasets.frames import make_frame_sessions

# Where the finished page's picture goes, when asked for (TRAINWISE_SCREENSHOT=path.png).
SCREENSHOT = os.environ.get("TRAINWISE_SCREENSHOT")
FRAMES_CONFIG = {
    "name": "gestures",
    "data": {"kind": "frames", "source": "gestures"},
    "task": {"type": "classification"},
    "model": {"name": "cnn", "layers": [
        {"type": "conv1d", "filters": 4, "kernel": 3, "activation": "relu"},
        {"type": "globalavgpool"}]},
    # A few hundred milliseconds of training: enough epochs to draw curves.
    "train": {"epochs": 40, "batch_size": 16, "lr": 0.01, "early_stopping": {"enabled": False}},
}

pytestmark = [
    pytest.mark.integration,
    NEEDS_CHROMIUM,
]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("frames_browser") / "ws"
    make_frame_sessions(workspace / "gestures", sessions_per_class=4, frames_per_session=12,
                        range_bins=16, seed=3)
    config = {**FRAMES_CONFIG, "data": {**FRAMES_CONFIG["data"],
                                        "cache_dir": str(workspace.parent / "cache")}}
    (workspace / "gestures.yaml").write_text(yaml.safe_dump(config))
    try:
        with LiveServer(serve_settings(workspace)) as server:
            yield server
    finally:
        kill_trainings(workspace / "runs")


@pytest.fixture
def page(dashboard):
    """A page that may load only from the dashboard; script errors fail the test."""
    with chromium() as browser, local_page(browser, dashboard.url, WAIT_MS) as page:
        yield page


@pytest.mark.slow
def test_a_frames_run_shows_curves_confusion_accuracy_and_its_top_losses(page, dashboard):
    page.goto(dashboard.url + "/")
    page.select_option("#config", "gestures.yaml")
    page.click("#start")
    page.wait_for_url("**/runs/*")  # the page follows its launch to the run

    page.wait_for_function(
        "() => Number(document.querySelector('#loss-chart').dataset.epochs || 0) > 0")
    assert page.locator("#loss-chart canvas").count() >= 1
    assert page.locator("#metric-accuracy canvas").count() >= 1
    # Each live epoch redraws the matrix as a new table: ask the page as it is now, not a
    # handle on a table an update may already have replaced.
    page.wait_for_selector("table.confusion[data-split=val]", state="visible")
    assert page.locator("table.confusion[data-split=val]").first.is_visible()

    page.wait_for_function("() => document.body.dataset.status === 'finished'")
    # The status arrives with the run's row; the test matrix with the finished record's
    # detail, a moment later.
    page.wait_for_selector("table.confusion[data-split=test] td.cell")
    assert page.locator("table.confusion[data-split=test] td.cell").count() == 16  # 4 gestures
    accuracy = page.locator("table.confusion[data-split=test] td.accuracy").all_inner_texts()
    # A gesture without test sessions has no accuracy: a dash.
    assert len(accuracy) == 4 and all(text.endswith("%") or text == "–" for text in accuracy)
    assert any(text.endswith("%") for text in accuracy)

    # Once finished: the worst mistakes, listed and drawn (the image actually loaded).
    panel = page.wait_for_selector("#top-losses-panel:not([hidden])")
    assert panel.is_visible()
    page.wait_for_function(
        "() => { const img = document.querySelector('#top-losses img');"
        " return img && img.complete && img.naturalWidth > 200; }")
    rows = page.locator("#top-losses table tbody tr")
    assert 1 <= rows.count() <= 16
    first = rows.first.locator("td").all_inner_texts()
    assert "#" in first[1] and first[2] != first[3]  # a frame of a session, misclassified
    losses = [float(text) for text in
              page.locator("#top-losses table tbody tr td:last-child").all_inner_texts()]
    assert losses == sorted(losses, reverse=True)
    assert page.inner_text("#progress").startswith("epoch 40 of 40")
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)
