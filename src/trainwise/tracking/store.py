"""The run store: one SQLite file per workspace that indexes runs and receives live metrics.

WAL mode lets one process write a run while others (``trainwise runs``, the dashboard) read
it. Each epoch's record and the run's summary row change in one transaction, so a reader
never sees an epoch without its run row being up to date, and a kill leaves the file whole.

Example:
    >>> import tempfile, pathlib
    >>> store = RunStore(pathlib.Path(tempfile.mkdtemp()) / "trainwise.db")
    >>> store.upsert_run("r1", name="demo", task="regression", status="running", path="runs/r1")
    >>> store.get_run("r1")["status"]
    'running'
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT,
    task TEXT,
    status TEXT,            -- running, finished, stopped, interrupted, failed, diverged
    monitor TEXT,           -- the history key early stopping / best checkpoint watch
    best_value REAL,
    best_epoch INTEGER,
    epochs INTEGER,         -- epochs completed
    duration_s REAL,        -- training time summed over epochs (and resumes)
    path TEXT,              -- the run directory
    created_at TEXT,
    updated_at TEXT
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    record TEXT NOT NULL,   -- the history record as JSON
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS batches (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    loss REAL,
    PRIMARY KEY (run_id, step)
);
"""

# Added after the first release: ``_migrate`` adds them to older stores.
LATER_COLUMNS = {
    "reason": "TEXT",  # why a run failed or diverged, in words
    "host": "TEXT",  # the training process: host name,
    "pid": "INTEGER",  # pid,
    "process_ticks": "INTEGER",  # and kernel start time (pids are reused)
    "heartbeat_at": "TEXT",  # refreshed while it trains (tracking.liveness)
}

RUN_COLUMNS = ("name", "task", "status", "monitor", "best_value", "best_epoch", "epochs",
               "duration_s", "path", *LATER_COLUMNS)


class RunStore:
    """Runs and their per-epoch metrics in SQLite (WAL mode).

    Args:
        path: the database file; created with its folder if absent.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            _migrate(db)

    @contextmanager
    def _connect(self):
        """The calling thread's connection, inside one transaction (committed on success,
        rolled back on error)."""
        db = self._connection()
        with db:
            yield db

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread and process, kept open: opening one costs ~1 ms, and a
        # training run writes every few epochs. A connection may not cross threads, and a
        # forked child must not share its parent's.
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.db = sqlite3.connect(self.path, timeout=30)
            local.db.row_factory = sqlite3.Row
            # In WAL mode NORMAL stays consistent after a crash and avoids an fsync per commit.
            local.db.execute("PRAGMA synchronous=NORMAL")
            local.pid = os.getpid()
        return local.db

    def close(self) -> None:
        """Close this thread's connection (a later call opens a new one)."""
        db = getattr(self._local, "db", None)
        if db is not None and getattr(self._local, "pid", None) == os.getpid():
            db.close()
        self._local.db = self._local.pid = None

    def upsert_run(self, run_id: str, **fields) -> None:
        """Create or update a run's row with any of ``RUN_COLUMNS``."""
        with self._connect() as db:
            self._upsert(db, run_id, fields)

    def heartbeat(self, run_id: str) -> None:
        """Refresh the run's ``heartbeat_at`` (its process is alive; see ``tracking.liveness``)."""
        with self._connect() as db:
            db.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (_now(), run_id))

    def record_epoch(self, run_id: str, record: dict, batches: list[dict] = (), **fields) -> None:
        """Store one epoch's history record (and its batch losses) and update the run row."""
        self.record_epochs(run_id, [record], batches, **fields)

    def record_epochs(self, run_id: str, records: list[dict], batches: list[dict] = (),
                      **fields) -> None:
        """Store several epochs' records and batch losses in one transaction."""
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO epochs (run_id, epoch, record) VALUES (?, ?, ?)",
                           [(run_id, record["epoch"], json.dumps(record)) for record in records])
            db.executemany(
                "INSERT OR REPLACE INTO batches (run_id, step, epoch, loss) VALUES (?, ?, ?, ?)",
                [(run_id, b["step"], b["epoch"], b["loss"]) for b in batches])
            self._upsert(db, run_id, fields)

    def truncate(self, run_id: str, epochs: int) -> None:
        """Forget epochs after ``epochs`` (and their batches): a resume rewrites them."""
        with self._connect() as db:
            db.execute("DELETE FROM epochs WHERE run_id = ? AND epoch > ?", (run_id, epochs))
            db.execute("DELETE FROM batches WHERE run_id = ? AND epoch > ?", (run_id, epochs))

    def get_run(self, run_id: str) -> dict | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return dict(row) if row else None

    def list_runs(self) -> list[dict]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs ORDER BY created_at").fetchall()
        return [dict(row) for row in rows]

    def history(self, run_id: str, after_epoch: int = 0) -> list[dict]:
        """The run's epoch records, all of them or only those after ``after_epoch``."""
        with self._connect() as db:
            rows = db.execute("SELECT record FROM epochs WHERE run_id = ? AND epoch > ? "
                              "ORDER BY epoch", (run_id, after_epoch)).fetchall()
        return [json.loads(row["record"]) for row in rows]

    def batches(self, run_id: str, after_step: int = 0) -> list[dict]:
        with self._connect() as db:
            rows = db.execute("SELECT step, epoch, loss FROM batches WHERE run_id = ? AND "
                              "step > ? ORDER BY step", (run_id, after_step)).fetchall()
        return [dict(row) for row in rows]

    def change_watch(self) -> ChangeWatch:
        """A cheap "did anything change?" for live readers (see ``ChangeWatch``)."""
        return ChangeWatch(self.path)

    @staticmethod
    def _upsert(db: sqlite3.Connection, run_id: str, fields: dict) -> None:
        unknown = set(fields) - set(RUN_COLUMNS)
        if unknown:  # column names go into the SQL text below, so only known ones pass
            raise ValueError(f"unknown run fields: {sorted(unknown)}")
        now = _now()
        db.execute("INSERT OR IGNORE INTO runs (id, created_at, updated_at) VALUES (?, ?, ?)",
                   (run_id, now, now))
        if fields:
            assignments = ", ".join(f"{column} = ?" for column in fields)
            db.execute(f"UPDATE runs SET {assignments}, updated_at = ? WHERE id = ?",
                       (*fields.values(), now, run_id))


def _migrate(db: sqlite3.Connection) -> None:
    """Add the columns a store made by an older trainwise lacks."""
    present = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    for column, kind in LATER_COLUMNS.items():
        if column not in present:
            try:
                db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
            except sqlite3.OperationalError as err:
                # Another process (a run, the dashboard, `trainwise runs`) opening the same
                # new store added it between our look and our ALTER: the column is there.
                if "duplicate column name" not in str(err):
                    raise


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ChangeWatch:
    """Tells a reader whether any other connection committed to the store since it last asked.

    SQLite's ``PRAGMA data_version`` changes for a connection whenever another connection (of
    any process) commits; reading it costs no query of the tables. It is per connection, so
    this keeps one open. Use it from one thread at a time.

    Example:
        >>> import tempfile, pathlib
        >>> store = RunStore(pathlib.Path(tempfile.mkdtemp()) / "trainwise.db")
        >>> watch = store.change_watch()
        >>> watch.changed()
        False
        >>> store.upsert_run("r1", status="running")
        >>> watch.changed()
        True
    """

    def __init__(self, path: str | Path):
        # check_same_thread=False: a server asks from worker threads, one call at a time.
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._version = self._read()

    def changed(self) -> bool:
        version = self._read()
        changed, self._version = version != self._version, version
        return changed

    def close(self) -> None:
        self._db.close()

    def _read(self) -> int:
        return self._db.execute("PRAGMA data_version").fetchone()[0]
