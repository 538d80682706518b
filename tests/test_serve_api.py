"""The dashboard's API over a real server: runs, detail, live events from another process,
start/stop/resume, and the ``stopped`` status (a deliberate stop, resumable exactly)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import yaml

import trainwise
from tests.helpers import assert_same_run, small_config
from tests.serve_support import (EventReader, LiveServer, kill_trainings, make_workspace,
                                 serve_settings, wait_for, write_config)
from trainwise.callbacks import Callback
from trainwise.reports.confusion import cell_colour, hex_colour
from trainwise.tracking.run_control import (STOP_FILE, process_alive, read_process,
                                            request_stop)
from trainwise.tracking.store import RunStore

# A run that takes long enough to watch, stop and resume (early stopping off).
LONG = {"epochs": 100_000, "batch_size": 4, "early_stopping": {"enabled": False}}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One workspace and server for the tests that only read: a finished and a stopped run."""
    workspace = make_workspace(tmp_path_factory.mktemp("serve"))
    finished = _fit(workspace, plots=True, epochs=3, early_stopping={"enabled": False})
    stopped = _fit(workspace, epochs=6, lr=0.003,
                   callbacks=[RequestStopAt(lambda: _newest_run(workspace), step=30)])
    with LiveServer(serve_settings(workspace)) as server:
        yield SimpleNamespace(workspace=workspace, server=server, finished=finished,
                              stopped=stopped)


def _fit(workspace: Path, callbacks=(), plots=False, **train) -> trainwise.Run:
    config = small_config(workspace / "classes.csv", target="label", task="classification",
                          **train)
    return trainwise.fit(config, runs_dir=workspace / "runs", progress=False,
                         callbacks=list(callbacks), plots=plots)


def _newest_run(workspace: Path) -> Path:
    return max((p for p in (workspace / "runs").iterdir() if p.is_dir()),
               key=lambda p: p.stat().st_mtime_ns)


class RequestStopAt(Callback):
    """Plays the dashboard's Stop button, pressed after optimizer step ``step``."""

    def __init__(self, run_path_of, step: int):
        self.run_path_of = run_path_of
        self.step = step

    def on_batch_end(self, trainer, loss):
        if trainer.state.global_step == self.step:
            path = self.run_path_of()
            request_stop(path, read_process(path))
            time.sleep(0.3)  # longer than RunControl's check interval: it looks this step


# ----------------------------------------------------------------------------- stopped
@pytest.mark.integration
def test_a_stop_request_ends_the_run_as_stopped_and_resume_is_exact(classification_csv,
                                                                     runs_dir):
    config = small_config(classification_csv, target="label", task="classification",
                          epochs=4, batch_size=32)
    straight = trainwise.fit(config, runs_dir=runs_dir / "straight", progress=False)
    stop_runs = runs_dir / "stopped"
    run_path = lambda: next(p for p in stop_runs.iterdir() if p.is_dir())  # noqa: E731
    stopped = trainwise.fit(config, runs_dir=stop_runs, progress=False,
                            callbacks=[RequestStopAt(run_path, step=9)])

    status = stopped.status
    assert status["status"] == "stopped" and status["global_step"] == 9
    assert "stopped on request" in status["stop_reason"]
    assert RunStore(stop_runs / "trainwise.db").get_run(stopped.id)["status"] == "stopped"
    assert not (stopped.path / STOP_FILE).exists()  # honoured, so consumed
    # A request left for another (earlier) process of the run must not stop the resume.
    request_stop(stopped.path, {"pid": 1, "host": read_process(stopped.path)["host"]})
    resumed = trainwise.resume(stopped.path, runs_dir=stop_runs, progress=False)
    assert resumed.status["status"] == "finished"
    assert_same_run(straight, resumed)


def test_the_live_confusion_matrix_is_the_last_epochs(shared):
    run = shared.finished
    live = json.loads((run.path / "confusion_val.json").read_text())
    # Without early stopping the final model is the last epoch's.
    assert live["epoch"] == 3 and live["classes"] == run.metrics["val"]["classes"]
    assert live["matrix"] == run.metrics["val"]["confusion_matrix"]


# ----------------------------------------------------------------------------- reading runs
def test_runs_and_run_detail_show_a_finished_classification_run(shared):
    run, server = shared.finished, shared.server
    runs = httpx.get(f"{server.url}/api/runs").json()["runs"]
    assert [row["id"] for row in runs] == [run.id, shared.stopped.id]
    row = runs[0]
    assert row["status"] == "finished" and row["task"] == "classification"
    assert row["best_value"] == pytest.approx(run.status["best_value"])
    assert row["duration_s"] > 0 and row["created_at"]

    detail = httpx.get(f"{server.url}/api/runs/{run.id}").json()
    summary = json.loads((run.path / "data_summary.json").read_text())
    assert detail["labels"]["classes"] == ["a", "b", "c"]
    for split, rows in summary["rows"].items():
        assert sum(detail["labels"]["counts"][split].values()) == rows
    model = detail["model"]
    assert model["input_shape"] == [None, 2] and model["total_params"] == 16 * 2 + 16 + 16 * 3 + 3
    assert [layer["type"] for layer in model["layers"]] == ["Linear", "ReLU", "Linear"]
    assert {f["name"] for f in model["checkpoints"]} == {
        "checkpoints/best.pt", "checkpoints/last.pt", "model.safetensors"}
    assert model["best_epoch"] == run.status["best_epoch"]
    test = detail["confusion"]["test"]
    assert _total(test) == summary["rows"]["test"]
    first = test["rows"][0]["cells"][0]
    assert first["correct"] and first["background"] == hex_colour(cell_colour(first["share"], True))
    assert detail["findings"]["source"] == "findings.json"
    assert len(detail["history"]) == 3
    assert [b["step"] for b in detail["batches"]] == list(range(1, run.status["global_step"] + 1))
    assert detail["config"]["values"]["task"]["type"] == "classification"


def test_findings_of_a_stopped_run_are_read_from_its_history(shared):
    detail = httpx.get(f"{shared.server.url}/api/runs/{shared.stopped.id}").json()
    assert detail["run"]["status"] == "stopped"
    assert "stopped" in detail["findings"]["source"] and detail["findings"]["items"]
    assert detail["confusion"]["val"]["epoch"] >= 1  # the live matrix; there is no final one
    assert detail["files"]["plots"] == []  # a stopped run may go on: its curves are not drawn


def test_plots_and_report_are_served(shared):
    run, server = shared.finished, shared.server
    plot = httpx.get(f"{server.url}/files/{run.id}/plots/loss.png")
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    report = httpx.get(f"{server.url}/runs/{run.id}/report", follow_redirects=True)
    assert report.status_code == 200 and "text/html" in report.headers["content-type"]
    assert (run.path / "report.html").is_file() and run.id in report.text


def test_the_first_view_of_a_run_fitted_without_plots_draws_them(tmp_path):
    workspace = make_workspace(tmp_path)
    run = _fit(workspace, epochs=2)  # trainwise.fit's default: no PNGs
    assert not list(run.path.glob("plots/*.png"))
    with LiveServer(serve_settings(workspace)) as server:
        detail = httpx.get(f"{server.url}/api/runs/{run.id}", timeout=60).json()
        urls = detail["files"]["plots"]
        assert f"/files/{run.id}/plots/loss.png" in urls
        assert f"/files/{run.id}/plots/confusion_test.png" in urls
        drawn = {path: path.stat().st_mtime_ns for path in run.path.glob("plots/*.png")}
        assert len(drawn) == len(urls)
        for url in urls:
            image = httpx.get(f"{server.url}{url}")
            assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        httpx.get(f"{server.url}/api/runs/{run.id}", timeout=60)  # drawn once, not again
        assert {path: path.stat().st_mtime_ns for path in drawn} == drawn


def test_compare_shows_differing_settings_and_histories(shared):
    first, second, server = shared.finished, shared.stopped, shared.server
    data = httpx.get(f"{server.url}/api/compare",
                     params=[("ids", first.id), ("ids", second.id)]).json()
    assert data["settings"]["train.lr"] == {first.id: 0.01, second.id: 0.003}
    assert data["settings"]["train.epochs"] == {first.id: 3, second.id: 6}
    assert [len(entry["history"]) for entry in data["runs"]] == [3, len(second.history)]
    assert "train.lr=0.01" in data["runs"][0]["label"]
    assert httpx.get(f"{server.url}/api/compare", params={"ids": "nope"}).status_code == 404


# ----------------------------------------------------------------------------- live events
WRITER = """
import sys, time
from trainwise.tracking.store import RunStore
store = RunStore(sys.argv[1])
run_id = sys.argv[2]
for epoch in (1, 2, 3):
    time.sleep(0.4)
    steps = [{"step": 2 * epoch - 1, "epoch": epoch, "loss": 1.0 / epoch},
             {"step": 2 * epoch, "epoch": epoch, "loss": 0.9 / epoch}]
    store.record_epoch(run_id, {"epoch": epoch, "loss": 1.0 / epoch, "val_loss": 1.1 / epoch},
                       steps, epochs=epoch, status="running")
time.sleep(0.4)
store.upsert_run(run_id, status="finished")
"""


def test_a_second_process_writing_a_run_reaches_the_open_stream(shared):
    """The store is written by another process; the stream delivers each epoch as it lands."""
    workspace, server = shared.workspace, shared.server
    store = RunStore(workspace / "runs" / "trainwise.db")
    run_dir = workspace / "runs" / "live-run"
    run_dir.mkdir()
    store.upsert_run("live-run", name="live", task="regression", status="running",
                     path=str(run_dir), epochs=0)
    with EventReader(f"{server.url}/api/events/runs/live-run") as run_events, \
            EventReader(f"{server.url}/api/events/runs") as list_events:
        run_events.wait(lambda events: events, what="the snapshot")
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(store.path), "live-run"])
        try:
            run_events.wait(lambda events: any(e == "run" and d["status"] == "finished"
                                               for e, d in events), what="status finished")
            list_events.wait(lambda events: any(row["status"] == "finished"
                                                for data in _named(events, "runs")
                                                for row in data["upsert"]), what="list update")
        finally:
            assert writer.wait(timeout=30) == 0
    snapshot = run_events.named("snapshot")[0]
    assert snapshot["history"] == [] and snapshot["run"]["status"] == "running"
    updates = run_events.named("update")
    epochs = [record["epoch"] for update in updates for record in update.get("epochs", [])]
    steps = [row["step"] for update in updates for row in update.get("batches", [])]
    assert epochs == [1, 2, 3] and steps == [1, 2, 3, 4, 5, 6]  # each once, in order
    assert len(updates) >= 2  # they arrived over time, not all at the end


def _named(events, name):
    return [data for event, data in events if event == name]


def _total(confusion: dict) -> int:
    return sum(cell["count"] for row in confusion["rows"] for cell in row["cells"])


# ----------------------------------------------------------------------------- requests
def test_start_requests_are_validated(workspace, server):
    url = f"{server.url}/api/runs"
    for body in ({"config": "classes.yaml", "epochs": 0},
                 {"config": "classes.yaml", "lr": -1},
                 {"config": "classes.yaml", "shell": "rm -rf /"},
                 {"config": "classes.yaml", "validation": {"mode": "file"}},
                 {"config": "classes.yaml", "validation": {"mode": "random", "fraction": 1.5}},
                 {"epochs": 3}):
        assert httpx.post(url, json=body).status_code == 422, body
    assert httpx.post(url, json={"config": "missing.yaml"}).status_code == 404
    (workspace / "bad.yaml").write_text("data: {source: classes.csv, target: label}\ntrian: {}\n")
    refused = httpx.post(url, json={"config": "bad.yaml"})
    assert refused.status_code == 400 and "trian" in refused.json()["detail"]
    write_config(workspace / "custom.yaml", "classes.csv")
    custom = yaml.safe_load((workspace / "custom.yaml").read_text())
    custom["model"] = {"name": "mypackage.models:Net"}
    (workspace / "custom.yaml").write_text(yaml.safe_dump(custom))
    user_code = httpx.post(url, json={"config": "custom.yaml"})
    assert user_code.status_code == 403 and "--allow-user-code" in user_code.json()["detail"]
    assert server.settings.state_dir.exists() is False  # nothing was launched


def test_the_workspace_lists_configs_and_their_values(workspace, server):
    run = workspace / "runs" / "20261121-101500-x"  # run folders hold configs not listed
    run.mkdir(parents=True)
    (run / "config.yaml").write_text((workspace / "classes.yaml").read_text())
    (workspace / "notes.yaml").write_text("just: yaml\n")
    assert httpx.get(f"{server.url}/api/configs").json()["configs"] == ["classes.yaml"]
    values = httpx.get(f"{server.url}/api/config", params={"path": "classes.yaml"}).json()
    assert values["epochs"] == 5 and values["task"] == "classification"
    assert values["validation"]["method"] == "random" and not values["user_code"]
    assert httpx.get(f"{server.url}/api/datafiles").json()["files"] == ["classes.csv"]


def test_stop_and_resume_refuse_what_cannot_be_done(shared):
    run, server = shared.finished, shared.server
    stop = httpx.post(f"{server.url}/api/runs/{run.id}/stop", json={})
    assert stop.status_code == 409 and "finished" in stop.json()["detail"]
    no_epochs = httpx.post(f"{server.url}/api/runs/{run.id}/resume", json={})
    assert no_epochs.status_code == 400
    too_few = httpx.post(f"{server.url}/api/runs/{run.id}/resume", json={"epochs": 3})
    assert too_few.status_code == 400 and "already trained 3" in too_few.json()["detail"]
    stopped = httpx.post(f"{server.url}/api/runs/{shared.stopped.id}/stop", json={})
    assert stopped.status_code == 409 and "stopped" in stopped.json()["detail"]
    assert httpx.post(f"{server.url}/api/runs/nope/stop", json={}).status_code == 404


# ----------------------------------------------------------------------------- processes
@pytest.mark.integration
@pytest.mark.slow
def test_launch_survives_a_server_restart_then_stops_and_resumes(workspace):
    """Start from the API; restart the server (the training goes on); Stop; Resume."""
    write_config(workspace / "long.yaml", "classes.csv", **LONG)
    try:
        _restart_stop_resume(workspace)
    finally:
        kill_trainings(workspace / "runs")


def _restart_stop_resume(workspace: Path) -> None:
    with LiveServer(serve_settings(workspace)) as first:
        with EventReader(f"{first.url}/api/events/runs") as runs_events:
            launch = httpx.post(f"{first.url}/api/runs",
                                json={"config": "long.yaml", "epochs": 5000}).json()
            run_id = runs_events.wait(lambda events: next(
                (item["run_id"] for data in _named(events, "launches")
                 for item in data["launches"] if item["id"] == launch["id"] and item["run_id"]),
                None), timeout_s=60, what="the launch's run")
    run_path = workspace / "runs" / run_id
    store = RunStore(workspace / "runs" / "trainwise.db")
    wait_for(lambda: len(store.history(run_id)) >= 2, what="epochs in the store")
    # The first server is gone; its training is not.
    assert process_alive(read_process(run_path)) is True

    with LiveServer(serve_settings(workspace)) as second:
        row = next(r for r in httpx.get(f"{second.url}/api/runs").json()["runs"]
                   if r["id"] == run_id)
        assert row["status"] == "running" and row["alive"] is True
        with EventReader(f"{second.url}/api/events/runs/{run_id}") as events:
            seen = events.wait(lambda e: _named(e, "snapshot"), what="the snapshot")[0]
            assert seen["batches"] and seen["history"]
            events.wait(lambda e: any(u.get("epochs") for u in _named(e, "update")),
                        what="new epochs, live")
            assert httpx.post(f"{second.url}/api/runs/{run_id}/stop", json={}).status_code == 202
            events.wait(lambda e: any(d["status"] == "stopped" for d in _named(e, "run")),
                        what="status stopped")
            status = json.loads((run_path / "status.json").read_text())
            assert status["status"] == "stopped"
            done = status["epochs"]
            resumed = httpx.post(f"{second.url}/api/runs/{run_id}/resume",
                                 json={"epochs": done + 2})
            assert resumed.status_code == 202, resumed.text
            events.wait(lambda e: any(d["status"] == "finished" for d in _named(e, "run")),
                        timeout_s=60, what="status finished")
            final = events.wait(lambda e: [d for d in _named(e, "detail")
                                           if "test" in d.get("confusion", {})],
                                what="the test confusion matrix")[-1]
    history = store.history(run_id)
    assert [record["epoch"] for record in history] == list(range(1, done + 3))
    assert final["run"]["status"] == "finished"
    test_rows = json.loads((run_path / "data_summary.json").read_text())["rows"]["test"]
    assert _total(final["confusion"]["test"]) == test_rows


@pytest.mark.slow
@pytest.mark.integration
def test_a_launch_that_fails_on_its_data_shows_its_log(workspace, server):
    (workspace / "nolabel.csv").write_text("x1,x2\n1,2\n3,4\n")
    write_config(workspace / "nolabel.yaml", "nolabel.csv")
    launch = httpx.post(f"{server.url}/api/runs", json={"config": "nolabel.yaml"}).json()
    ended = wait_for(lambda: (lambda data: data if data["state"] == "exited" else None)(
        httpx.get(f"{server.url}/api/launches/{launch['id']}").json()), timeout_s=60,
        what="the launch to end")
    assert ended["returncode"] == 2 and ended["run_id"] is None
    assert "label" in ended["log_tail"] and "Traceback" not in ended["log_tail"]
