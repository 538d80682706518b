"""The dashboard with a segmentation run, in a real browser (Debian's Chromium driven by
Playwright): started from the runs page, its loss and pixel-accuracy curves and the live
pixel confusion matrix arrive, and once finished its mean IoU and the test confusion are on
the page."""

from __future__ import annotations

import pytest
import yaml

from tests.serve_support import (CHROMIUM, CHROMIUM_ARGS, NEEDS_CHROMIUM, WAIT_MS, LiveServer,
                                 kill_trainings, local_page, serve_settings)
from trainwise.datasets.scene import make_scene

SCENE_CONFIG = {
    "name": "landcover",
    "data": {"kind": "raster", "source": "scene/scene.tif",
             "raster": {"labels": "scene/labels.tif", "chip_size": 32, "train_chips": 16},
             "split": {"method": "spatial_blocks", "block_size": 480, "folds": 4, "val": 0.25}},
    "task": {"type": "segmentation"},
    "model": {"name": "unet", "depth": 2, "width": 4},
    "train": {"epochs": 15, "batch_size": 8, "lr": 0.01, "early_stopping": {"enabled": False}},
}

pytestmark = [
    pytest.mark.integration,
    NEEDS_CHROMIUM,
]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("raster_browser") / "ws"
    make_scene(workspace / "scene", size=192, seed=3)
    (workspace / "landcover.yaml").write_text(yaml.safe_dump(SCENE_CONFIG))
    try:
        with LiveServer(serve_settings(workspace)) as server:
            yield server
    finally:
        kill_trainings(workspace / "runs")


@pytest.mark.slow
def test_a_segmentation_run_shows_curves_pixel_confusion_and_mean_iou(dashboard):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            with local_page(browser, dashboard.url, WAIT_MS) as page:
                page.goto(dashboard.url + "/")
                page.select_option("#config", "landcover.yaml")
                page.click("#start")
                page.wait_for_url("**/runs/*")
                page.wait_for_function("() => Number(document.querySelector('#loss-chart')"
                                       ".dataset.epochs || 0) > 0")
                assert page.locator("#metric-pixel_accuracy canvas").count() >= 1
                # Each live epoch redraws the matrix as a new table: ask the page as it is
                # now, not a handle on a table an update may already have replaced.
                page.wait_for_selector("table.confusion[data-split=val]", state="visible")
                assert page.locator("table.confusion[data-split=val]").first.is_visible()
                page.wait_for_function("() => document.body.dataset.status === 'finished'")
                # The test matrix comes with the finished record, a moment after the status.
                page.wait_for_selector("table.confusion[data-split=test] td.cell")
                # Five land-cover classes: 25 cells of pixel counts.
                assert page.locator("table.confusion[data-split=test] td.cell").count() == 25
                results = page.inner_text("#results")
                assert "mean_iou" in results and "pixel_accuracy" in results
        finally:
            browser.close()
