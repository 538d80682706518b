"""One run store for many machines: PostgreSQL behind the same class, tables and migrations
as SQLite, its errors, and two trainings on one store followed live by one dashboard.

The PostgreSQL tests take ``postgres_url`` (tests/postgres_support.py): a fresh database on a
throw-away server, or a skip that says why none could start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
import yaml

from tests.serve_support import (EventReader, LiveServer, classification_table, kill_trainings,
                                 serve_settings, wait_for, write_config)
from trainwise.errors import UserError
from trainwise.tracking import RunStore
from trainwise.tracking.run_control import read_process, request_stop
from trainwise.tracking.store_migrations import VERSION

CLI = [sys.executable, "-m", "trainwise.cli"]
BIG_TICKS = 2**40  # a kernel start time past 32 bits: a machine up for more than 248 days


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path) -> str:
    """The same tests on both kinds of store."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'trainwise.db'}"
    return request.getfixturevalue("postgres_url")


# ----------------------------------------------------------------- the same behaviour
def test_runs_epochs_and_batches_behave_the_same_on_both(location):
    store = RunStore(location)
    store.upsert_run("b", name="second", status="running", pid=7, process_ticks=BIG_TICKS)
    store.upsert_run("a", name="first", task="regression")
    for epoch in (1, 2, 3):
        store.record_epoch("b", {"epoch": epoch, "loss": 1.0 / epoch},
                           [{"step": 2 * epoch - 1, "epoch": epoch, "loss": 0.5},
                            {"step": 2 * epoch, "epoch": epoch, "loss": 0.25}],
                           epochs=epoch, best_value=0.5, best_epoch=epoch)
    store.record_epoch("b", {"epoch": 3, "loss": 0.1}, epochs=3)  # a resume rewrites epoch 3
    row = store.get_run("b")
    assert (row["status"], row["epochs"], row["process_ticks"]) == ("running", 3, BIG_TICKS)
    assert [r["loss"] for r in store.history("b")] == [1.0, 0.5, 0.1]
    assert [r["epoch"] for r in store.history("b", after_epoch=1)] == [2, 3]
    assert [b["step"] for b in store.batches("b", after_step=4)] == [5, 6]
    store.heartbeat("b")
    assert store.get_run("b")["heartbeat_at"] is not None
    store.truncate("b", 1)
    assert [r["epoch"] for r in store.history("b")] == [1]
    assert [b["step"] for b in store.batches("b")] == [1, 2]
    assert {r["id"] for r in store.list_runs()} == {"a", "b"}
    assert store.get_run("missing") is None
    with pytest.raises(ValueError, match="unknown run fields"):
        store.upsert_run("a", colour="red")
    store.close()
    assert RunStore(location).get_run("a")["name"] == "first"  # reopened: nothing migrates


def test_a_change_watch_sees_other_connections_commit(location):
    store, writer = RunStore(location), RunStore(location)
    watch = store.change_watch()
    assert not watch.changed()
    writer.record_epoch("r", {"epoch": 1, "loss": 1.0}, epochs=1)
    assert watch.changed()
    assert not watch.changed()  # once per change
    seen = []
    asker = threading.Thread(target=lambda: seen.append(watch.changed()))  # a server thread
    writer.heartbeat("r")
    asker.start()
    asker.join()
    assert seen == [True]
    watch.close()


def test_threads_and_a_forked_child_write_with_connections_of_their_own(location):
    store = RunStore(location)
    store.upsert_run("parent", status="running")  # the pool now holds a connection
    threads = [threading.Thread(target=store.record_epoch,
                                args=(f"t{i}", {"epoch": 1, "loss": 0.0}), kwargs={"epochs": 1})
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pid = os.fork()
    if pid == 0:  # the child: write through the parent's store object, then leave at once
        try:
            store.upsert_run("child", status="finished")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    store.upsert_run("parent", status="finished")  # the parent's connections still work
    assert {row["id"]: row["status"] for row in store.list_runs()} == {
        "parent": "finished", "child": "finished", "t0": None, "t1": None, "t2": None,
        "t3": None}


def test_processes_opening_a_new_store_at_once_all_succeed(location):
    opener = ("import sys; from trainwise.tracking import RunStore; "
              "RunStore(sys.argv[1]).upsert_run(sys.argv[2])")
    processes = [subprocess.Popen([sys.executable, "-c", opener, location, f"r{i}"],
                                  stderr=subprocess.PIPE, text=True) for i in range(3)]
    errors = [process.communicate(timeout=60)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], errors
    assert len(RunStore(location).list_runs()) == 3


def test_a_store_written_by_a_newer_trainwise_is_refused(location):
    from trainwise.tracking import store_sql

    store = RunStore(location)
    with store._engine.begin() as connection:
        connection.execute(store_sql.schema_version.update().values(version=VERSION + 1))
    label = store.label
    with pytest.raises(UserError, match=f"schema version {VERSION + 1}") as refused:
        RunStore(location)
    assert label in str(refused.value) and "pip install -U trainwise" in str(refused.value)


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize("command", [["runs"], ["serve", "--workspace", "{tmp}"]])
def test_an_unreachable_server_exits_2_naming_the_url_without_its_password(invoke, command,
                                                                           tmp_path):
    pytest.importorskip("psycopg")
    command = [part.format(tmp=tmp_path) for part in command]
    result = invoke(*command, "--store", "postgresql://postgres:secret@127.0.0.1:1/x")
    assert result.exit_code == 2, result.output
    assert "cannot reach the run store postgresql://postgres:***@127.0.0.1:1/x (" in result.output
    assert "PostgreSQL server is running" in result.output
    assert "secret" not in result.output and "Traceback" not in result.output


def test_a_missing_database_is_a_user_error(postgres_url, invoke):
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    result = invoke("runs", "--store", missing)
    assert result.exit_code == 2, result.output
    assert "no_such_database" in result.output and "does not exist" in result.output


def test_without_the_driver_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(UserError, match=r"pip install 'trainwise\[postgres\]'"):
        RunStore("postgresql://postgres@127.0.0.1:1/x")


@pytest.mark.parametrize("url", ["mysql://me@host/db", "sqlite://"])
def test_an_unknown_store_url_is_refused_by_the_cli(invoke, url):
    result = invoke("runs", "--store", url)
    assert result.exit_code == 2, result.output
    assert "is not a store URL" in result.output and "postgresql://" in result.output


# ----------------------------------------------------------------- two machines, one dashboard
# Trainings that go on until the test stops them (early stopping off).
LONG = {"epochs": 100_000, "batch_size": 4, "early_stopping": {"enabled": False}}


@pytest.mark.integration
@pytest.mark.slow
def test_two_trainings_write_one_store_and_one_dashboard_follows_both(postgres_url, tmp_path):
    """Two `trainwise train` processes, each with its own runs folder (two machines), write
    to one PostgreSQL store: one names it in its config (runs.store), the other in
    TRAINWISE_STORE. A dashboard in a third folder follows both live through its HTTP API."""
    machines = [tmp_path / "machine_a", tmp_path / "machine_b"]
    for machine in machines:
        machine.mkdir()
        classification_table(machine / "classes.csv")
    dashboard = tmp_path / "dashboard"
    dashboard.mkdir()
    try:
        with LiveServer(serve_settings(dashboard, store=postgres_url)) as server, \
                EventReader(f"{server.url}/api/events/runs") as events:
            events.wait(lambda seen: any(name == "snapshot" for name, _ in seen), 15)
            trainings = [
                _train(machines[0], _config(machines[0], runs={"store": postgres_url}), {}),
                _train(machines[1], _config(machines[1]), {"TRAINWISE_STORE": postgres_url})]
            runs = wait_for(lambda: _training(server.url, trainings), 120,
                            "both runs training, with epochs, in the API")
            events.wait(lambda seen: all("running" in _statuses(seen, row["id"]) for row in runs),
                        15, "both runs announced as running on the stream")
            for row in runs:
                _follow_then_stop(server.url, row)
            outputs = [training.communicate(timeout=120)[0] for training in trainings]
            events.wait(lambda seen: all("stopped" in _statuses(seen, row["id"]) for row in runs),
                        15, f"both runs' ends on the stream; the trainings said: {outputs}")
            for row in runs:
                history = httpx.get(f"{server.url}/api/runs/{row['id']}").json()["history"]
                assert [r["epoch"] for r in history] == list(range(1, len(history) + 1))
                assert len(history) >= 2
    finally:
        for machine in machines:
            kill_trainings(machine / "runs")
    assert {Path(row["path"]).parent.parent for row in runs} == set(machines)
    assert not (dashboard / "runs").exists()  # nothing of theirs in the dashboard's folder


def _config(machine: Path, **sections) -> Path:
    # Named after the machine: run ids (time + name) are unique within one runs folder only,
    # and both trainings start within the same second.
    path = write_config(machine / f"{machine.name}.yaml", "classes.csv", **LONG)
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **sections}))
    return path


def _train(machine: Path, config: Path, environment: dict) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key != "TRAINWISE_STORE"}
    return subprocess.Popen([*CLI, "train", str(config), "--runs-dir", str(machine / "runs"),
                             "--quiet"], cwd=machine, env={**env, **environment},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _training(url: str, trainings: list[subprocess.Popen]) -> list[dict] | None:
    """Both runs as the API lists them once both train and have stored two epochs."""
    for training in trainings:
        assert training.poll() is None, training.communicate()[0]
    runs = httpx.get(f"{url}/api/runs").json()["runs"]
    live = [row for row in runs if row["status"] == "running" and (row["epochs"] or 0) >= 2]
    return live if len(live) == 2 else None


def _follow_then_stop(url: str, row: dict) -> None:
    """A run page's stream brings new epochs while the run trains; then the run is stopped
    as the dashboard's Stop does (a file in its folder, which is on "its machine")."""
    with EventReader(f"{url}/api/events/runs/{row['id']}") as run_events:
        run_events.wait(lambda seen: any(data.get("epochs") for name, data in seen
                                         if name == "update"), 30, f"{row['id']}'s new epochs")
    path = Path(row["path"])
    request_stop(path, read_process(path))


def _statuses(events: list[tuple[str, dict]], run_id: str) -> list[str]:
    """The statuses the runs stream sent for ``run_id``, in order (snapshot and upserts)."""
    rows = []
    for name, data in events:
        rows += data.get("runs", []) if name == "snapshot" else data.get("upsert", [])
    return [row["status"] for row in rows if row["id"] == run_id]


def test_machines_sharing_a_postgresql_store_never_share_a_run_id(postgres_url, tmp_path):
    from trainwise.tracking.run_dir import RunDirectory

    store = RunStore(postgres_url)
    ids = {RunDirectory.create(tmp_path / machine, "same", claim=store.claim_run).run_id
           for machine in ("a", "b", "c")}
    assert len(ids) == 3
    store.close()
