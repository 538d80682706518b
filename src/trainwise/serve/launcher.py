"""Start trainings as their own processes, through the CLI's own entry point.

A training never runs in the server's process: it is ``python -m trainwise.cli train ...``
(or ``resume``), started in a new session (``start_new_session``), so a Ctrl-C or restart
of the server does not reach it. Its output goes to a log file under the workspace's
``.trainwise/logs/``. Which run a launch became is found from the run's ``process.json``
(written by the training itself), so the server needs no shared state with it and a
restarted server finds running trainings in the store alone.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from trainwise.serve.settings import ServeSettings
from trainwise.tracking.run_control import read_process
from trainwise.tracking.store import RunStore
from trainwise.tracking.store_url import ENV_VAR

# How much of a log a launch that failed before becoming a run shows.
LOG_TAIL_BYTES = 4000
# Runs created this long before a launch started can still be its run (clock rounding: the
# store keeps whole seconds).
CREATED_SLACK_S = 2.0
# Processes still training when their server shut down: they outlive it by design. Holding
# on to their Popen objects keeps Popen.__del__ from warning that they are still running.
_OUTLIVING: list[subprocess.Popen] = []


@dataclass
class Launch:
    """One training process started by this server.

    Attributes:
        id: the launch's id (also its log file's name).
        kind: "train" or "resume".
        command: the command line.
        log: the log file (stdout and stderr).
        pid: the process id.
        started_at: seconds since the epoch.
        config: the launched config, relative to the workspace (train only).
        run_id: the run it trains, once known (from the start for a resume).
        returncode: the exit code once the process has ended.
    """

    id: str
    kind: str
    command: list[str]
    log: Path
    pid: int
    started_at: float
    config: str | None = None
    run_id: str | None = None
    returncode: int | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """What the pages see: state, run id, and the log's end once the process has ended."""
        state = "running" if self.returncode is None else "exited"
        return {"id": self.id, "kind": self.kind, "config": self.config, "run_id": self.run_id,
                "pid": self.pid, "state": state, "returncode": self.returncode,
                "started_at": datetime.fromtimestamp(self.started_at, timezone.utc)
                .isoformat(timespec="seconds"),
                "log_tail": log_tail(self.log) if self.returncode is not None else None}


class Launcher:
    """Starts training processes and keeps track of the ones this server started.

    Args:
        settings: the server's settings (workspace, runs folder).
    """

    def __init__(self, settings: ServeSettings):
        self.settings = settings
        self.launches: dict[str, Launch] = {}

    def train(self, config: Path, overrides: list[str]) -> Launch:
        """``trainwise train CONFIG OVERRIDES... --runs-dir RUNS --quiet``."""
        relative = config.relative_to(self.settings.workspace).as_posix()
        return self._spawn("train", ["train", str(config), *overrides], config=relative)

    def resume(self, run_id: str, path: Path, epochs: int | None) -> Launch:
        """``trainwise resume RUN [--epochs N] --runs-dir RUNS --quiet``: exact, as the CLI."""
        extra = ["--epochs", str(epochs)] if epochs is not None else []
        return self._spawn("resume", ["resume", str(path), *extra], run_id=run_id)

    def get(self, launch_id: str) -> Launch | None:
        return self.launches.get(launch_id)

    def all(self) -> list[Launch]:
        return sorted(list(self.launches.values()), key=lambda launch: launch.started_at)

    def poll(self, store: RunStore, find_runs: bool = True) -> list[Launch]:
        """Reap ended processes and find new launches' runs; returns the launches that changed.

        Args:
            store: the run store, read only when ``find_runs`` and a launch has no run yet.
            find_runs: look for new launches' runs (when the store changed, or now and then).
        """
        changed = []
        for launch in list(self.launches.values()):  # a request may add one meanwhile
            before = (launch.returncode, launch.run_id)
            if launch.returncode is None and launch.process is not None:
                launch.returncode = launch.process.poll()
            if launch.run_id is None and (find_runs or launch.returncode is not None):
                launch.run_id = self._find_run(store, launch)
            if (launch.returncode, launch.run_id) != before:
                changed.append(launch)
        return changed

    def close(self) -> None:
        """The server is stopping: let running trainings go on without it."""
        _OUTLIVING.extend(launch.process for launch in self.launches.values()
                          if launch.process is not None and launch.process.poll() is None)

    def _spawn(self, kind: str, arguments: list[str], config: str | None = None,
               run_id: str | None = None) -> Launch:
        launch_id = f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        logs = self.settings.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{launch_id}.log"
        command = [sys.executable, "-m", "trainwise.cli", *arguments,
                   "--runs-dir", str(self.settings.runs_dir), "--quiet"]
        # The training writes to the store this server reads (unless its config's runs.store
        # names another); in the environment, as a URL's password must not show in `ps`.
        environment = {**os.environ, ENV_VAR: str(self.settings.store_path)}
        with log.open("wb") as handle:
            # The child keeps its own copy of the handle; ours closes at the end of the block.
            process = subprocess.Popen(command, cwd=self.settings.workspace, stdout=handle,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=environment, start_new_session=True)
        launch = Launch(launch_id, kind, command, log, process.pid, time.time(), config,
                        run_id, process=process)
        self.launches[launch_id] = launch
        return launch

    def _find_run(self, store: RunStore, launch: Launch) -> str | None:
        """The run whose ``process.json`` names this launch's process, if it exists yet."""
        since = launch.started_at - CREATED_SLACK_S
        for row in reversed(store.list_runs()):
            created = datetime.fromisoformat(row["created_at"]).timestamp()
            if created < since:
                break  # rows are ordered by creation: older ones cannot be this launch's
            process = read_process(row["path"]) if row.get("path") else None
            if process and process.get("pid") == launch.pid:
                return row["id"]
        return None


def log_tail(path: Path, size: int = LOG_TAIL_BYTES) -> str:
    """The last ``size`` bytes of a log file as text ("" when it does not exist)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
