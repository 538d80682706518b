"""The run store: indexes runs and receives live metrics, in SQLite or PostgreSQL.

By default one SQLite file per workspace (``<runs-dir>/trainwise.db``) in WAL mode, so one
process writes a run while others (``trainwise runs``, the dashboard) read it. A PostgreSQL
URL instead gives one store that runs on many machines write to and one dashboard follows
(``store_url`` says how the store is chosen). Both go through the same tables and statements
(``store_sql``, SQLAlchemy Core) and the same migrations (``store_migrations``). Each epoch's
record and the run's summary row change in one transaction, so a reader never sees an epoch
without its run row being up to date, and a kill leaves the store whole.

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
import weakref
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from trainwise.errors import UserError
from trainwise.tracking.store_url import masked, sqlite_file


class RunStore:
    """Runs and their per-epoch metrics, in a SQLite file or a PostgreSQL database.

    Safe to share between threads; a forked child opens connections of its own.

    Args:
        location: a SQLite file (a path or ``sqlite:///path``; created with its folder if
            absent), or a PostgreSQL URL (``postgresql://user@host:5432/database``).

    Raises:
        UserError: the location is no store URL, the database cannot be reached, a driver
            is missing, or the store was written by a newer trainwise.
    """

    def __init__(self, location: str | Path):
        self._sql, migrations = _load_sql()
        self.path = sqlite_file(location)  # the SQLite file; None for a server
        self.label = masked(location)  # for messages: a URL's password hidden
        if self.path is None:
            self._engine = self._sql.server_engine(str(location), self.label)
        else:
            self._engine = self._sql.sqlite_engine(self.path)
        self._dialect = self._engine.dialect.name
        self._pid = os.getpid()
        # A store dropped without close() still closes its pooled connections (a server's
        # would otherwise linger until the process ends).
        weakref.finalize(self, _release, self._engine, self._pid)
        migrations.prepare(self._engine, self.label)

    def close(self) -> None:
        """Close the pooled connections (a later call opens new ones)."""
        self._engine_here().dispose()

    def upsert_run(self, run_id: str, **fields) -> None:
        """Create or update a run's row with any of ``RUN_COLUMNS``."""
        self._check_fields(fields)
        with self._writing() as connection:
            self._upsert(connection, run_id, fields)

    def claim_run(self, run_id: str, path: str | Path) -> bool:
        """Reserve ``run_id`` for the new run at ``path``; False when another run holds it (a
        store shared by machines whose runs folders made the same name in the same second)."""
        path = str(Path(path).resolve())
        with self._writing() as connection:
            # RETURNING, not rowcount: psycopg reports no count for a skipped ON CONFLICT.
            created = connection.execute(self._sql.create_run(self._dialect, run_id, _now())
                                         .returning(self._sql.runs.c.id)).first()
            if created is not None:
                connection.execute(self._sql.update_run(run_id, {"path": path}, _now()))
                return True
        row = self.get_run(run_id)
        return row is not None and row["path"] == path

    def heartbeat(self, run_id: str) -> None:
        """Refresh the run's ``heartbeat_at`` (its process is alive; see ``tracking.liveness``)."""
        with self._writing() as connection:
            connection.execute(self._sql.heartbeat(run_id, _now()))

    def record_epoch(self, run_id: str, record: dict, batches: list[dict] = (), **fields) -> None:
        """Store one epoch's history record (and its batch losses) and update the run row."""
        self.record_epochs(run_id, [record], batches, **fields)

    def record_epochs(self, run_id: str, records: list[dict], batches: list[dict] = (),
                      **fields) -> None:
        """Store several epochs' records and batch losses in one transaction."""
        self._check_fields(fields)
        with self._writing() as connection:
            for statement, rows in (self._sql.put_epochs(self._dialect, run_id, records),
                                    self._sql.put_batches(self._dialect, run_id, batches)):
                if rows:  # an executemany needs at least one row
                    connection.execute(statement, rows)
            self._upsert(connection, run_id, fields)

    def truncate(self, run_id: str, epochs: int) -> None:
        """Forget epochs after ``epochs`` (and their batches): a resume rewrites them."""
        with self._writing() as connection:
            for statement in self._sql.truncate(run_id, epochs):
                connection.execute(statement)

    def get_run(self, run_id: str) -> dict | None:
        with self._reading() as connection:
            row = connection.execute(self._sql.get_run(run_id)).mappings().first()
        return dict(row) if row else None

    def list_runs(self) -> list[dict]:
        with self._reading() as connection:
            rows = connection.execute(self._sql.list_runs()).mappings().all()
        return [dict(row) for row in rows]

    def history(self, run_id: str, after_epoch: int = 0) -> list[dict]:
        """The run's epoch records, all of them or only those after ``after_epoch``."""
        with self._reading() as connection:
            records = connection.execute(self._sql.history(run_id, after_epoch)).scalars().all()
        return [json.loads(record) for record in records]

    def batches(self, run_id: str, after_step: int = 0) -> list[dict]:
        with self._reading() as connection:
            rows = connection.execute(self._sql.batch_losses(run_id, after_step)).mappings()
            return [dict(row) for row in rows]

    def change_watch(self) -> ChangeWatch:
        """A cheap "did anything change?" for live readers (see ``ChangeWatch``)."""
        # Autocommit: the watch's connection stays open, and must not sit in a transaction.
        connection = self._engine_here().connect().execution_options(isolation_level="AUTOCOMMIT")
        return ChangeWatch(connection, self._sql.change_marker(self._dialect))

    # ------------------------------------------------------------- connections
    def _engine_here(self):
        # The engine pools connections per thread of use (opening one costs ~1 ms; a run
        # writes every few epochs). A forked child must not touch its parent's pooled
        # connections (their sockets and SQLite locks are the parent's): it drops the pool,
        # leaving them open for the parent, and opens its own.
        if self._pid != os.getpid():
            self._engine.dispose(close=False)
            self._pid = os.getpid()
        return self._engine

    @contextmanager
    def _reading(self):
        with self._engine_here().connect() as connection:
            yield connection

    @contextmanager
    def _writing(self):
        """One transaction (committed on success, rolled back on error) that bumps the
        change counter last: on PostgreSQL its row stays locked only until the commit."""
        with self._engine_here().begin() as connection:
            yield connection
            connection.execute(self._sql.count_change())

    def _upsert(self, connection, run_id: str, fields: dict) -> None:
        now = _now()
        connection.execute(self._sql.create_run(self._dialect, run_id, now))
        if fields:
            connection.execute(self._sql.update_run(run_id, fields, now))

    def _check_fields(self, fields: dict) -> None:
        unknown = set(fields) - set(self._sql.RUN_COLUMNS)
        if unknown:
            raise ValueError(f"unknown run fields: {sorted(unknown)}")


class ChangeWatch:
    """Tells a reader whether any other connection committed to the store since it last asked.

    It reads one marker on one open connection: SQLite's ``PRAGMA data_version`` (which
    changes when another connection, of any process, commits; no table is read), or on
    PostgreSQL the store's change counter, bumped by every write in its own transaction.
    Use it from one thread at a time.

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

    def __init__(self, connection, marker):
        self._connection = connection
        self._marker = marker
        self._version = self._read()

    def changed(self) -> bool:
        version = self._read()
        changed, self._version = version != self._version, version
        return changed

    def close(self) -> None:
        self._connection.close()

    def _read(self) -> int:
        return self._connection.execute(self._marker).scalar()


def _load_sql():
    """``store_sql`` and ``store_migrations``, imported when the first store opens: they
    import SQLAlchemy (~0.2 s), which ``import trainwise`` and ``--help`` do without."""
    try:
        from trainwise.tracking import store_migrations, store_sql
    except ModuleNotFoundError as err:
        if err.name != "sqlalchemy":
            raise
        raise UserError("the run store needs SQLAlchemy, which is not installed; install it "
                        "with: pip install 'sqlalchemy>=2.0'") from err
    return store_sql, store_migrations


def _release(engine, owner_pid: int) -> None:
    # In a forked child the pooled connections are the parent's: leave them open for it.
    engine.dispose(close=os.getpid() == owner_pid)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
