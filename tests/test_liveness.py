"""A run whose process is gone shows as interrupted; one process writes a run at a time;
SIGTERM stops a run cleanly. Real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from tests.helpers import small_config
from trainwise.errors import UserError
from trainwise.tracking import RunStore
from trainwise.tracking.liveness import STALE_AFTER_S, observed_status
from trainwise.tracking.run_lock import RunLock

CLI = [sys.executable, "-m", "trainwise.cli"]


def long_config(tmp_path: Path, source, epochs: int = 100_000) -> Path:
    """Many small batches: a run that trains for as long as the test lets it."""
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(small_config(source, epochs=epochs, batch_size=4,
                                                early_stopping={"enabled": False})))
    return path


def start(*args) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for_epochs(runs_dir: Path, process, at_least: int, timeout_s: float = 90) -> dict:
    """The run's store row once it has ``at_least`` epochs stored (the process still alive)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        if (runs_dir / "trainwise.db").exists():
            rows = RunStore(runs_dir / "trainwise.db").list_runs()
            if rows and (rows[0]["epochs"] or 0) >= at_least:
                return rows[0]
        time.sleep(0.1)
    raise AssertionError(f"no {at_least} epochs within {timeout_s}s")


def runs_table(runs_dir: Path) -> str:
    result = subprocess.run([*CLI, "runs", "--runs-dir", str(runs_dir)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


# ----------------------------------------------------------------------- units
def test_another_hosts_run_is_judged_by_its_heartbeat():
    now = datetime.now(timezone.utc)
    row = {"status": "running", "host": "some-other-machine", "pid": 4242}
    fresh = (now - timedelta(seconds=STALE_AFTER_S / 3)).isoformat()
    stale = (now - timedelta(seconds=STALE_AFTER_S * 2)).isoformat()
    assert observed_status({**row, "heartbeat_at": fresh}, now) == "running"
    assert observed_status({**row, "heartbeat_at": stale}, now) == "interrupted"
    assert observed_status({**row, "status": "finished", "heartbeat_at": stale}, now) == "finished"


def test_a_dead_pid_on_this_host_is_interrupted_a_live_one_running():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now
    here = socket.gethostname()
    assert observed_status({"status": "running", "host": here, "pid": child.pid}) == "interrupted"
    assert observed_status({"status": "running", "host": here, "pid": os.getpid()}) == "running"


def test_the_run_lock_admits_one_holder(tmp_path):
    first = RunLock(tmp_path)
    first.acquire("run demo")
    with pytest.raises(UserError, match="run demo is being trained right now by another process"):
        RunLock(tmp_path).acquire("run demo")
    first.release()
    second = RunLock(tmp_path)
    second.acquire("run demo")  # free again
    second.release()


# ------------------------------------------------------------------- processes
@pytest.mark.integration
@pytest.mark.slow
def test_a_killed_run_shows_interrupted_within_seconds(tmp_path, runs_dir, regression_csv):
    process = start("train", long_config(tmp_path, regression_csv), "--runs-dir", runs_dir,
                    "--quiet")
    try:
        row = wait_for_epochs(runs_dir, process, at_least=2)
        assert "running" in runs_table(runs_dir)
    finally:
        process.kill()
        process.communicate()  # reaps it and closes its pipe
    killed_at = time.monotonic()
    table = runs_table(runs_dir)
    assert time.monotonic() - killed_at < 10
    assert "interrupted" in table and "running" not in table
    assert f"trainwise resume {row['id']}" in table


@pytest.mark.integration
@pytest.mark.slow
def test_sigterm_stops_the_run_and_it_resumes(tmp_path, runs_dir, regression_csv):
    process = start("train", long_config(tmp_path, regression_csv), "--runs-dir", runs_dir,
                    "--quiet")
    try:
        row = wait_for_epochs(runs_dir, process, at_least=2)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, output
    run = Path(row["path"])
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "stopped" and status["signal"] == "SIGTERM"
    assert status["stop_reason"] == "stopped by SIGTERM"
    resumed = subprocess.run([*CLI, "resume", row["id"], "--runs-dir", str(runs_dir),
                              "--epochs", str(status["epochs"] + 1), "--quiet"],
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert json.loads((run / "status.json").read_text())["status"] == "finished"


@pytest.mark.integration
@pytest.mark.slow
def test_two_concurrent_resumes_one_trains_the_other_exits_2(tmp_path, runs_dir,
                                                               regression_csv):
    config = tmp_path / "short.yaml"
    config.write_text(yaml.safe_dump(small_config(regression_csv, epochs=2,
                                                  early_stopping={"enabled": False})))
    first = subprocess.run([*CLI, "train", str(config), "--runs-dir", str(runs_dir), "--quiet"],
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    run_id = RunStore(runs_dir / "trainwise.db").list_runs()[0]["id"]
    # Long enough that the first to take the lock still trains when the second starts.
    resumes = [start("resume", run_id, "--runs-dir", runs_dir, "--epochs", 400, "--quiet")
               for _ in range(2)]
    outputs = [process.communicate(timeout=240)[0] for process in resumes]
    codes = sorted(process.returncode for process in resumes)
    assert codes == [0, 2], outputs
    refused = outputs[[process.returncode for process in resumes].index(2)]
    assert "is being trained right now by another process" in refused
    assert "Traceback" not in refused
    history = json.loads((runs_dir / run_id / "history.json").read_text())
    assert [record["epoch"] for record in history] == list(range(1, 401))
