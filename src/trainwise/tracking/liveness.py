"""Is a ``running`` run really running? The process's identity and a heartbeat decide.

A training process holds the run's lock (``RunLock``), records its host, pid and kernel
start time (``process.json`` and the store's run row) and refreshes ``heartbeat_at`` in the
store every ``BEAT_EVERY_S`` seconds from a background thread, so even a single epoch of an
hour keeps it fresh. A reader then judges a run marked ``running``:

- wherever the lock can be seen held, the run is alive;
- on the same host, by the process itself: gone (or its pid reused by another process, told
  apart by the start time) means the run was killed;
- on another host, where no pid can be checked (a store shared between machines), by the
  heartbeat: older than ``STALE_AFTER_S`` means the run's process is gone.

Such a run is shown as ``interrupted``: it can be resumed with ``trainwise resume``.

Example:
    >>> observed_status({"status": "running", "host": "elsewhere", "pid": 1,
    ...                  "heartbeat_at": "2020-01-01T00:00:00+00:00"})
    'interrupted'
"""

from __future__ import annotations

import socket
import threading
from datetime import datetime, timezone

from trainwise.tracking.run_control import process_alive, read_process
from trainwise.tracking.run_lock import RunLock

BEAT_EVERY_S = 5.0
# Six missed beats: a busy machine may delay a thread by seconds, never by half a minute.
STALE_AFTER_S = 30.0


def observed_status(row: dict, now: datetime | None = None) -> str:
    """The run's status as it really is: ``interrupted`` for a ``running`` run whose
    process is gone, else the recorded status.

    Args:
        row: the store's run row (``status``, ``path``, ``host``, ``pid``,
            ``process_ticks``, ``heartbeat_at``), or any dict with those keys.
        now: the time to judge the heartbeat against (default: now).
    """
    status = row.get("status")
    if status != "running":
        return status
    if row.get("path"):
        if RunLock(row["path"]).held_elsewhere():
            return "running"
        if not row.get("pid"):  # a store written before rows named their process
            row = {**row, **_process_fields(read_process(row["path"]))}
    if not row.get("pid"):
        return status  # no process recorded: nothing to judge by
    if row.get("host") == socket.gethostname():
        process = {"pid": row["pid"], "host": row["host"], "start_ticks": row.get("process_ticks")}
        return "running" if process_alive(process) else "interrupted"
    return "interrupted" if _stale(row.get("heartbeat_at"), now) else "running"


def observed_run_status(run_path, status: str, row: dict | None = None) -> str:
    """``observed_status`` for a run directory: its status.json's ``status``, judged by its
    ``process.json`` and, when given, its store row (which holds the heartbeat)."""
    known = {"path": str(run_path), **_process_fields(read_process(run_path))}
    return observed_status({**known, **{k: v for k, v in (row or {}).items() if v is not None},
                            "status": status})


def _process_fields(process: dict | None) -> dict:
    """``process.json``'s fields under the store's column names."""
    process = process or {}
    return {"host": process.get("host"), "pid": process.get("pid"),
            "process_ticks": process.get("start_ticks")}


def _stale(heartbeat_at: str | None, now: datetime | None) -> bool:
    if not heartbeat_at:
        return False  # an older trainwise wrote no heartbeat: nothing to judge by
    beat = datetime.fromisoformat(heartbeat_at)
    return ((now or datetime.now(timezone.utc)) - beat).total_seconds() > STALE_AFTER_S


class Heartbeat:
    """Refreshes a run's ``heartbeat_at`` in the store from a daemon thread.

    An error in a beat (a locked or full disk) is ignored until the next one: a late
    heartbeat must never stop training.

    Args:
        store: the run store (the thread uses its own connection, closed when it stops).
        run_id: the run.
        every_s: seconds between beats.
    """

    def __init__(self, store, run_id: str, every_s: float = BEAT_EVERY_S):
        self.store = store
        self.run_id = run_id
        self.every_s = every_s
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, name="trainwise-heartbeat",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stopped.wait(self.every_s):
            try:
                self.store.heartbeat(self.run_id)
            except Exception:  # noqa: BLE001 -- see the class docstring
                pass
        self.store.close()
