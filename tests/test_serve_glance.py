"""The dashboard read at a glance, in a real browser (Debian's Chromium driven by Playwright):
an early-stopped run says so and offers a sensible Resume, legends show the latest values,
plots open full size, one rule picks the loss axis's scale on every page, the comparison
legend tells training from validation, and a 10,000-epoch run draws within a second.

The runs are written straight into a run folder and the store (``write_run``): no training.
"""

from __future__ import annotations

import math
import time

import pytest

from tests.serve_support import (NEEDS_CHROMIUM, LiveServer, chromium, local_page,
                                 make_workspace, serve_settings, write_run)

pytestmark = [
    pytest.mark.integration,
    NEEDS_CHROMIUM,
]
WAIT_MS = 10_000  # nothing here trains: every page has its data at once
BIG_EPOCHS = 10_000
FIRST_DRAW_MS = 1000  # the bound on a 10,000-epoch run page's first drawing of its loss
MARGIN = 1.2  # for a machine shared with other work
EARLY_STOP = ("early stopping: val_loss did not improve for 10 epochs "
              "(best 0.06 at epoch 90)")


def _history(epochs: int, first: float, last: float) -> list[dict]:
    """Losses falling geometrically from ``first`` to ``last``; validation 10 % above."""
    rate = math.log(last / first) / max(epochs - 1, 1)
    records = []
    for epoch in range(1, epochs + 1):
        loss = first * math.exp(rate * (epoch - 1))
        share = loss / (2 * first)
        records.append({"epoch": epoch, "loss": loss, "val_loss": 1.1 * loss,
                         "accuracy": 1 - share, "val_accuracy": 0.9 - share,
                         "lr": 0.01, "epoch_time_s": 0.01})
    return records


def _batches(history: list[dict], per_epoch: int, spread: float = 0.1) -> list[dict]:
    """``per_epoch`` batch losses around each epoch's loss, ``spread`` apart (relative)."""
    return [{"step": per_epoch * (record["epoch"] - 1) + k + 1, "epoch": record["epoch"],
             "loss": record["loss"] * (1 + spread * math.sin(k + record["epoch"]))}
            for record in history for k in range(per_epoch)]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    workspace = make_workspace(tmp_path_factory.mktemp("glance"))
    early = _history(100, 2.0, 0.05)  # falls 40-fold: a log axis
    write_run(workspace, "early", early, _batches(early, 2), planned=300,
              stop_reason=EARLY_STOP, train={"early_stopping": {"patience": 10}},
              plots={"loss.png": (1600, 1000), "accuracy.png": (1600, 1000)})
    # Falls 2-fold per epoch, but its first batches are 25 times its last epoch's loss: the
    # epoch losses decide, so its axis is linear here as on the comparison page.
    flat = _history(60, 1.0, 0.5)
    flat_batches = _batches(flat, 4)
    flat_batches[0]["loss"] = 12.5
    write_run(workspace, "flat", flat, flat_batches)
    stopped = _history(40, 1.0, 0.6)
    write_run(workspace, "stopped", stopped, _batches(stopped, 2), status="stopped", planned=300,
              stop_reason="stopped on request (trainwise serve's Stop)")
    live = _history(20, 1.0, 0.4)
    write_run(workspace, "live", live, _batches(live, 2), status="running", planned=1000)
    big = _history(BIG_EPOCHS, 2.0, 0.02)
    write_run(workspace, "big", big, _batches(big, 3))
    with LiveServer(serve_settings(workspace)) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser, dashboard):
    """A page that may load only from the dashboard; script errors fail the test."""
    with local_page(browser, dashboard.url, WAIT_MS) as page:
        yield page


def _open_run(page, dashboard, run_id: str) -> None:
    page.goto(f"{dashboard.url}/runs/{run_id}")
    page.wait_for_selector("#loss-chart[data-ready]")


def _legend(page, chart: str) -> dict[str, str]:
    """The chart's legend: series label -> value shown."""
    return dict(page.eval_on_selector_all(
        f"{chart} .u-legend tr.u-series",
        "rows => rows.map(r => [r.querySelector('.u-label').textContent,"
        " r.querySelector('.u-value').textContent])"))


def test_an_early_stopped_run_says_so_and_offers_one_more_patience_window(page, dashboard):
    _open_run(page, dashboard, "early")
    page.wait_for_function("() => document.querySelector('#progress').textContent"
                           ".startsWith('stopped early')")
    assert page.inner_text("#progress").startswith("stopped early at epoch 100 (of 300 planned)")
    assert page.inner_text("#stop-reason") == EARLY_STOP
    # Early stopping keeps counting on resume: one more patience window (10), not the plan.
    assert page.input_value("#resume-epochs") == "110"

    # A run a person stopped continues to its plan, and reads as before.
    _open_run(page, dashboard, "stopped")
    page.wait_for_function("() => document.body.dataset.status === 'stopped'")
    assert page.inner_text("#progress").startswith("epoch 40 of 300")
    assert page.inner_text("#stop-reason") == ""
    assert page.input_value("#resume-epochs") == "300"


def test_legends_show_the_latest_values_until_hovered_and_follow_live_data(page, dashboard):
    from trainwise.tracking.store import RunStore

    _open_run(page, dashboard, "live")
    latest = _legend(page, "#loss-chart")
    assert float(latest["validation (epoch)"]) == pytest.approx(1.1 * 0.4, rel=1e-3)
    assert float(latest["training (epoch)"]) == pytest.approx(0.4, rel=1e-3)
    assert "–" not in _legend(page, "#metric-accuracy").values()

    box = page.locator("#loss-chart .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 3, box["y"] + box["height"] / 2)
    page.wait_for_function("() => document.querySelector('#loss-chart .u-legend"
                           " .u-series .u-value').textContent !== '20'")
    assert _legend(page, "#loss-chart") != latest  # the pointer's epoch
    page.mouse.move(2, 2)  # off the chart: the latest values again
    page.wait_for_function("() => document.querySelector('#loss-chart .u-legend"
                           " .u-series .u-value').textContent === '20'")
    assert _legend(page, "#loss-chart") == latest

    store = RunStore(dashboard.settings.store_path)
    try:
        store.record_epoch("live", {"epoch": 21, "loss": 0.3, "val_loss": 0.35, "lr": 0.01},
                           [{"step": 41, "epoch": 21, "loss": 0.3}], epochs=21)
    finally:
        store.close()
    page.wait_for_function("() => document.querySelector('#loss-chart .u-legend"
                           " .u-series .u-value').textContent === '21'")
    assert float(_legend(page, "#loss-chart")["validation (epoch)"]) == pytest.approx(0.35)


def test_plot_thumbnails_are_large_and_open_full_size(page, dashboard):
    _open_run(page, dashboard, "early")
    thumbnail = page.wait_for_selector("#plots img")
    page.wait_for_function("() => document.querySelector('#plots img').complete")
    assert thumbnail.bounding_box()["width"] >= 400

    thumbnail.click()
    page.wait_for_selector("#lightbox[open]")
    page.wait_for_function("() => document.querySelector('#lightbox-image').complete")
    full = page.locator("#lightbox-image")
    assert page.evaluate("document.querySelector('#lightbox-image').naturalWidth") == 1600
    assert full.bounding_box()["width"] > 1.5 * thumbnail.bounding_box()["width"]
    assert page.get_attribute("#lightbox-link", "href").endswith("/plots/accuracy.png")

    page.keyboard.press("Escape")
    page.wait_for_selector("#lightbox", state="hidden")
    assert page.evaluate("document.querySelector('#lightbox').open") is False


def _scale(page) -> tuple[str, str]:
    """The loss chart's scale and its y axis's label."""
    page.wait_for_selector("#loss-chart[data-scale]")
    return (page.get_attribute("#loss-chart", "data-scale"),
            page.get_attribute("#loss-chart", "data-y-label"))


def test_the_loss_scale_follows_one_rule_on_both_pages_and_the_choice_holds(page, dashboard):
    _open_run(page, dashboard, "early")
    assert _scale(page) == ("log", "loss, log scale")
    _open_run(page, dashboard, "flat")  # its batch losses span 25-fold, its epochs 2-fold
    assert _scale(page) == ("linear", "loss, linear scale")
    page.goto(f"{dashboard.url}/compare?ids=flat&ids=stopped")
    assert _scale(page) == ("linear", "loss, linear scale")
    page.goto(f"{dashboard.url}/compare?ids=early&ids=flat")
    assert _scale(page) == ("log", "loss, log scale")

    # A person's choice holds on every page (this browser's storage).
    page.select_option("#loss-chart select.scale-choice", "linear")
    page.wait_for_selector("#loss-chart[data-scale=linear]")
    _open_run(page, dashboard, "early")
    assert page.input_value("#loss-chart select.scale-choice") == "linear"
    assert _scale(page) == ("linear", "loss, linear scale")
    page.select_option("#loss-chart select.scale-choice", "auto")
    page.wait_for_selector("#loss-chart[data-scale=log]")


def test_the_compare_legend_tells_training_from_validation(page, dashboard):
    page.goto(f"{dashboard.url}/compare?ids=early&ids=flat")
    page.wait_for_selector("#loss-chart[data-ready]")
    markers = dict(page.eval_on_selector_all(
        "#loss-chart .u-legend tr.u-series",
        "rows => rows.map(r => [r.querySelector('.u-label').textContent,"
        " getComputedStyle(r.querySelector('.u-marker')).backgroundImage])"))
    training = [image for label, image in markers.items() if label.endswith("· training")]
    validation = [image for label, image in markers.items() if label.endswith("· validation")]
    assert len(training) == len(validation) == 2
    assert all(image.startswith("repeating-linear-gradient") for image in training)  # dashed
    assert all(image.startswith("linear-gradient") for image in validation)  # solid
    assert page.locator("#loss-chart .u-legend .u-marker").first.bounding_box()["width"] > 20


@pytest.mark.slow
def test_a_10000_epoch_run_page_draws_its_loss_within_a_second(page, dashboard):
    _open_run(page, dashboard, "big")  # the server's first page loads its report modules
    times = []
    for _ in range(3):
        started = time.perf_counter()
        _open_run(page, dashboard, "big")
        times.append(float(page.get_attribute("#loss-chart", "data-ready")))
        assert time.perf_counter() - started < 10
    print(f"\n10,000-epoch run page, loss chart drawn at {times} ms after navigation began")
    assert page.get_attribute("#loss-chart", "data-epochs") == str(BIG_EPOCHS)
    assert _legend(page, "#loss-chart")["epoch"] == f"{BIG_EPOCHS:,}"  # the latest epoch
    assert min(times) < FIRST_DRAW_MS * MARGIN
