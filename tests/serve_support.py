"""Shared by the dashboard's tests: a real server on a real port, configs, and an SSE reader."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
import yaml

from tests.helpers import small_config
from trainwise.serve import ServeSettings, create_app

# The browser tests drive Debian's Chromium with Playwright (its own download fails here).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install "
                                  "chromium); Playwright's own browser download is not used")
WAIT_MS = 120_000  # a training process needs a few seconds to import torch and read its data


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiveServer:
    """``trainwise serve``'s app under uvicorn in a thread, on a free loopback port.

    Example:
        >>> with LiveServer(settings) as server:                        # doctest: +SKIP
        ...     httpx.get(server.url + "/api/runs")
    """

    def __init__(self, settings: ServeSettings):
        self.settings = settings
        config = uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                                log_level="warning", ws="none", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout_s=15, what="the server to start")
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def serve_settings(workspace: Path, **options) -> ServeSettings:
    settings, _ = ServeSettings.create(workspace, port=free_port(), **options)
    return settings


def make_workspace(root: Path, **train) -> Path:
    """A workspace with a 3-class table and ``classes.yaml`` (a tiny classifier)."""
    workspace = root / "ws"
    workspace.mkdir()
    classification_table(workspace / "classes.csv")
    write_config(workspace / "classes.yaml", "classes.csv", **train)
    return workspace


def classification_table(path: Path) -> Path:
    """conftest's ``classification_csv`` (300 rows, 3 classes), for module-scoped fixtures."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x1": rng.normal(size=300), "x2": rng.normal(size=300)})
    frame["label"] = np.select([frame.x1 > 0.5, frame.x2 > 0], ["a", "b"], "c")
    frame.to_csv(path, index=False)
    return path


def write_config(path: Path, source: str, **train) -> Path:
    config = small_config(source, target="label", task="classification", **train)
    config["name"] = path.stem
    path.write_text(yaml.safe_dump(config))
    return path


def wait_for(predicate: Callable[[], object], timeout_s: float = 30, what: str = "it",
             interval_s: float = 0.05):
    """Poll until ``predicate()`` is truthy; return its value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


class EventReader:
    """Reads a server-sent event stream in a thread; ``events`` fills as they arrive."""

    def __init__(self, url: str, headers: dict | None = None):
        self.url = url
        self.headers = headers or {}
        self.events: list[tuple[str, dict]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._response: httpx.Response | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> EventReader:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._response is not None:
            # Shutting the socket down wakes the reading thread from its blocked recv().
            stream = self._response.extensions["network_stream"]
            stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the event reader did not stop"

    def wait(self, predicate: Callable[[list[tuple[str, dict]]], object], timeout_s: float = 30,
             what: str = "an event"):
        """Wait until ``predicate(events)`` is truthy; return its value."""
        def check():
            assert self.error is None, f"event stream failed: {self.error!r}"
            return predicate(list(self.events))
        return wait_for(check, timeout_s, what)

    def named(self, name: str) -> list[dict]:
        return [data for event, data in list(self.events) if event == name]

    def _read(self) -> None:
        try:
            with httpx.stream("GET", self.url, headers=self.headers,
                              timeout=httpx.Timeout(5, read=None)) as response:
                self._response = response
                response.raise_for_status()
                event, data = "message", []
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        self.events.append((event, json.loads("\n".join(data))))
                        event, data = "message", []
        except (httpx.HTTPError, OSError, RuntimeError) as error:
            if not self._stop.is_set():  # after a stop, the closed response ends the read
                self.error = error


def kill_trainings(runs_dir: Path) -> None:
    """Kill training processes a failed test left running (they would train for hours)."""
    import os
    import signal

    from trainwise.tracking.run_control import process_alive, read_process

    for run in runs_dir.glob("*/"):
        process = read_process(run)
        if process_alive(process):
            os.kill(process["pid"], signal.SIGKILL)


@contextmanager
def chromium():
    """Debian's Chromium, headless, driven by Playwright; closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def local_page(browser, url: str, wait_ms: int):
    """A page of ``browser`` that may load only from ``url`` (the dashboard): a request
    elsewhere is blocked, and it or a script error fails the test when the page closes."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors, blocked = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def only_local(route):
        if route.request.url.startswith(url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.set_default_timeout(wait_ms)
    yield page
    page.close()  # closes its event streams before the server stops
    assert errors == [] and blocked == []


def write_run(workspace: Path, run_id: str, history: list[dict], batches: list[dict] = (), *,
              status: str = "finished", planned: int | None = None,
              stop_reason: str | None = None, train: dict | None = None,
              plots: dict[str, tuple[int, int]] | None = None) -> Path:
    """A run's folder and store rows as a training leaves them, written directly (no torch).

    Args:
        history: the epoch records (``{"epoch", "loss", "val_loss", ...}``).
        batches: the batch losses (``{"step", "epoch", "loss"}``).
        planned: ``train.epochs`` of its config (default: as many as ``history`` has).
        stop_reason: why it ended before ``planned``, as ``status.json`` says it.
        train: more ``train`` config keys (e.g. early stopping's patience).
        plots: PNG files to draw in ``plots/``: name -> (width, height) in pixels.

    Returns:
        The run's folder.
    """
    from PIL import Image, ImageDraw

    from trainwise.config.load import load_config
    from trainwise.tracking.store import RunStore

    path = workspace / "runs" / run_id
    (path / "plots").mkdir(parents=True)
    planned = planned or len(history)
    config = small_config("classes.csv", target="label", task="classification",
                          epochs=planned, **(train or {}))
    resolved = load_config({**config, "name": run_id}).model_dump(mode="json")
    (path / "config.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
    (path / "status.json").write_text(json.dumps({
        "status": status, "epochs": len(history), "epochs_planned": planned,
        "stop_reason": stop_reason, "global_step": len(batches)}))
    for name, size in (plots or {}).items():
        image = Image.new("RGB", size, "white")
        ImageDraw.Draw(image).rectangle([10, 10, size[0] - 10, size[1] - 10], outline="black")
        image.save(path / "plots" / name)
    store = RunStore(workspace / "runs" / "trainwise.db")
    try:
        store.upsert_run(run_id, name=run_id, task="classification", status="running",
                         path=str(path.resolve()))
        store.record_epochs(run_id, history, list(batches), epochs=len(history), status=status,
                            duration_s=float(len(history)))
    finally:
        store.close()
    return path
