"""The dashboard in a real browser (Debian's Chromium driven by Playwright): start a run, see
its curves arrive, stop it, resume it, see the confusion matrix; and a run written by
another process updating the open pages without a reload."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.serve_support import (NEEDS_CHROMIUM, WAIT_MS, LiveServer, chromium,
                                 kill_trainings, local_page, make_workspace,
                                 serve_settings, write_config)

# Long enough to watch and stop (45 steps an epoch, early stopping off); it never runs out.
LONG = {"epochs": 100_000, "batch_size": 4, "early_stopping": {"enabled": False}}

pytestmark = [
    pytest.mark.integration,
    NEEDS_CHROMIUM,
]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    workspace = make_workspace(tmp_path_factory.mktemp("browser"))
    write_config(workspace / "long.yaml", "classes.csv", **LONG)
    try:
        with LiveServer(serve_settings(workspace)) as server:
            yield server
    finally:
        kill_trainings(workspace / "runs")


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser, dashboard):
    """A page that may load only from the dashboard; script errors fail the test."""
    with local_page(browser, dashboard.url, WAIT_MS) as page:
        yield page


def _epochs_drawn(page) -> int:
    return int(page.get_attribute("#loss-chart", "data-epochs") or 0)


def _wait_for_more_epochs(page, than: int) -> int:
    page.wait_for_function(
        f"() => Number(document.querySelector('#loss-chart').dataset.epochs || 0) > {than}")
    return _epochs_drawn(page)


def _wait_for_status(page, status: str) -> None:
    page.wait_for_function(f"() => document.body.dataset.status === '{status}'")


@pytest.mark.slow
def test_start_watch_stop_resume_and_see_the_confusion_matrix(page, dashboard):
    page.goto(dashboard.url + "/")
    page.select_option("#config", "long.yaml")
    page.fill("#epochs", "5000")
    page.select_option("#validation-mode", "random")
    page.fill("#fraction", "25")
    page.click("#start")
    page.wait_for_url("**/runs/*")  # the page follows its launch to the run

    # Curve points arrive, and keep arriving, with nothing reloaded.
    first = _wait_for_more_epochs(page, 1)
    _wait_for_more_epochs(page, first)
    assert int(page.get_attribute("#loss-chart", "data-batches")) > first
    assert page.locator("#loss-chart canvas").count() >= 1
    assert page.locator("#metric-accuracy canvas").count() >= 1
    assert "validation" in page.inner_text("#labels")  # labels with counts per split

    page.click("#stop")
    _wait_for_status(page, "stopped")
    stopped_at = int(page.inner_text("#progress").split()[1])
    assert stopped_at >= first

    page.fill("#resume-epochs", str(stopped_at + 3))
    page.click("#resume")
    # Three epochs can finish between two updates, so "running" may never be drawn.
    _wait_for_status(page, "finished")
    assert int(page.inner_text("#progress").split()[1]) == stopped_at + 3
    # A later update may redraw the matrix as a new table: ask the page as it is now.
    page.wait_for_selector("table.confusion[data-split=test]", state="visible")
    assert page.locator("table.confusion[data-split=test]").first.is_visible()
    counts = page.eval_on_selector_all(
        "table.confusion[data-split=test] td.cell",
        "cells => cells.map(c => [c.classList.contains('correct'),"
        " Number(c.querySelector('.count').textContent), getComputedStyle(c).backgroundColor])")
    assert len(counts) == 9  # 3 classes
    for correct, count, colour in counts:
        red, green, blue = (int(part) for part in colour[colour.index("(") + 1:-1].split(","))
        if correct:
            assert green > red and green > blue, colour  # the diagonal is green
        elif count:
            assert red > green and red > blue, colour  # errors shade towards red
        else:
            assert (red, green, blue) == (255, 255, 255), colour  # no error: white
    assert page.inner_text("#progress").startswith(f"epoch {stopped_at + 3} of {stopped_at + 3}")


@pytest.mark.slow
def test_a_run_written_by_another_process_updates_the_open_pages(page, dashboard):
    workspace = dashboard.settings.workspace
    page.goto(dashboard.url + "/")
    page.evaluate("window.notReloaded = true")
    training = subprocess.Popen(
        [sys.executable, "-m", "trainwise.cli", "train", "long.yaml", "train.epochs=5000",
         "--runs-dir", str(dashboard.settings.runs_dir), "--quiet"],
        cwd=workspace, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        row = page.wait_for_selector("#runs tr[data-status=running]")
        run_id = row.get_attribute("data-run")
        assert page.evaluate("window.notReloaded") is True  # the row came live

        page.click(f"#runs tr[data-run='{run_id}'] a")
        page.wait_for_url(f"**/runs/{run_id}")
        page.evaluate("window.notReloaded = true")
        _wait_for_more_epochs(page, _wait_for_more_epochs(page, 0))

        training.send_signal(signal.SIGINT)  # Ctrl-C: the run saves and ends as stopped
        _wait_for_status(page, "stopped")
        assert page.evaluate("window.notReloaded") is True
        assert training.wait(timeout=60) == 130
    finally:
        if training.poll() is None:
            training.kill()
            training.wait()


@pytest.mark.slow
def test_a_killed_run_turns_interrupted_on_the_open_runs_page(page, dashboard):
    training = subprocess.Popen(
        [sys.executable, "-m", "trainwise.cli", "train", "long.yaml", "train.epochs=5000",
         "--runs-dir", str(dashboard.settings.runs_dir), "--quiet"],
        cwd=dashboard.settings.workspace, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page.goto(dashboard.url + "/")
        row = page.wait_for_selector("#runs tr[data-status=running]", timeout=WAIT_MS)
        run_id = row.get_attribute("data-run")
        page.evaluate("window.notReloaded = true")
    finally:
        training.kill()  # SIGKILL: the process writes nothing more
        training.wait()
    # The server re-judges running runs every few seconds: no commit announces a kill.
    page.wait_for_selector(f"#runs tr[data-run='{run_id}'][data-status=interrupted]",
                           timeout=WAIT_MS)
    badge = page.locator(f"#runs tr[data-run='{run_id}'] .badge")
    assert f"trainwise resume {run_id}" in badge.get_attribute("title")
    assert page.evaluate("window.notReloaded") is True
