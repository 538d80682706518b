"""The run store's tables and statements, one definition for SQLite and PostgreSQL.

SQLAlchemy Core writes each statement in the database's own dialect; the one place they
differ in substance is the upsert (``INSERT ... ON CONFLICT``), whose construct both dialects
offer with the same arguments (``_insert``). ``RunStore`` imports this module only when a store
is opened: SQLAlchemy takes ~0.2 s to import, and ``import trainwise`` must not need it.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import sqlalchemy as sa

from trainwise.errors import UserError
from trainwise.tracking.store_url import DRIVER, WHERE_SET, server_url

metadata = sa.MetaData()

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("task", sa.Text),
    sa.Column("status", sa.Text),  # running, finished, stopped, interrupted, failed, diverged
    sa.Column("monitor", sa.Text),  # the history key early stopping / best checkpoint watch
    sa.Column("best_value", sa.Float),
    sa.Column("best_epoch", sa.Integer),
    sa.Column("epochs", sa.Integer),  # epochs completed
    sa.Column("duration_s", sa.Float),  # training time summed over epochs (and resumes)
    sa.Column("path", sa.Text),  # the run directory, on the machine that trains it
    sa.Column("created_at", sa.Text),  # ISO 8601, UTC, whole seconds (they sort as text)
    sa.Column("updated_at", sa.Text),
    # PROCESS_COLUMNS, added after the first release (see store_migrations):
    sa.Column("reason", sa.Text),  # why a run failed or diverged, in words
    sa.Column("host", sa.Text),  # the training process: host name,
    sa.Column("pid", sa.BigInteger),  # pid,
    sa.Column("process_ticks", sa.BigInteger),  # and kernel start time (pids are reused)
    sa.Column("heartbeat_at", sa.Text),  # refreshed while it trains (tracking.liveness)
)
PROCESS_COLUMNS = ("reason", "host", "pid", "process_ticks", "heartbeat_at")
RUN_COLUMNS = tuple(column.name for column in runs.columns if column.name != "id")

epochs = sa.Table(
    "epochs", metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("epoch", sa.Integer, primary_key=True),
    sa.Column("record", sa.Text, nullable=False),  # the history record as JSON
)

batches = sa.Table(
    "batches", metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("step", sa.BigInteger, primary_key=True),
    sa.Column("epoch", sa.Integer, nullable=False),
    sa.Column("loss", sa.Float),
)

# One row: how many write transactions have committed. Each write bumps it last, in its own
# transaction, so a reader that sees a new count also sees what was written (ChangeWatch).
changes = sa.Table(
    "store_changes", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, nullable=False),  # one row: the last migration applied
)

CONNECT_TIMEOUT_S = 10  # a PostgreSQL connection's limit, unless the URL sets connect_timeout


# ------------------------------------------------------------------ engines
def sqlite_engine(path: Path) -> sa.Engine:
    """An engine for a SQLite file (created with its folder if absent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # URL.create, not a formatted string: a path may hold "?" or "#".
    engine = sa.create_engine(sa.URL.create("sqlite", database=str(path)),
                              connect_args={"timeout": 30})  # wait up to 30 s for a writer
    sa.event.listen(engine, "connect", _sqlite_connection_settings)
    return engine


def server_engine(url: str, label: str) -> sa.Engine:
    """An engine for a PostgreSQL URL; connects only when first used.

    Raises:
        UserError: the URL cannot be parsed, or the postgres extra is not installed.
    """
    try:
        address = sa.make_url(server_url(url))
        if "connect_timeout" not in address.query:
            # libpq waits for a host that drops packets for minutes; a command should not.
            address = address.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_S)})
        # pre_ping: a pooled connection is checked before use, so a training survives a
        # server restart between two of its writes (one round trip per transaction).
        return sa.create_engine(address, pool_pre_ping=True)
    except ImportError as err:  # SQLAlchemy imports the driver here
        raise UserError(f"run store {label} is PostgreSQL, which needs the driver '{DRIVER}' "
                        f"({err}); install it with: pip install 'trainwise[postgres]'") from err
    except (sa.exc.ArgumentError, ValueError) as err:
        raise UserError(f"run store {label} is not a valid URL ({err}); write it as "
                        "postgresql://user@host:5432/database") from err


def unreachable(err: sa.exc.OperationalError, label: str, dialect: str) -> UserError:
    """The UserError for a store that refused the first connection."""
    reason = " ".join(str(err.orig).split())  # the driver's words, on one line
    if dialect == "sqlite":
        return UserError(f"cannot open the run store {label} ({reason}). Check that its "
                         "folder exists and is writable, or give another --runs-dir")
    return UserError(f"cannot reach the run store {label} ({reason}). Check that the "
                     "PostgreSQL server is running and that the URL's host, port, user, "
                     "password (or PGPASSWORD, ~/.pgpass) and database are right; the URL "
                     f"comes from {WHERE_SET}")


def _sqlite_connection_settings(connection, _record) -> None:
    # In WAL mode NORMAL stays consistent after a crash and avoids an fsync per commit.
    connection.execute("PRAGMA synchronous=NORMAL")


# ------------------------------------------------------------------ statements
def create_run(dialect: str, run_id: str, now: str):
    """The run's row, unless it exists."""
    insert = _insert(dialect, runs).values(id=run_id, created_at=now, updated_at=now)
    return insert.on_conflict_do_nothing(index_elements=["id"])


def update_run(run_id: str, fields: dict, now: str):
    return runs.update().where(runs.c.id == run_id).values(**fields, updated_at=now)


def heartbeat(run_id: str, now: str):
    return runs.update().where(runs.c.id == run_id).values(heartbeat_at=now)


def put_epochs(dialect: str, run_id: str, records: list[dict]):
    """The statement and its parameter rows: replace the epochs' records (a resume rewrites)."""
    insert = _insert(dialect, epochs)
    rows = [{"run_id": run_id, "epoch": record["epoch"], "record": json.dumps(record)}
            for record in records]
    return insert.on_conflict_do_update(index_elements=["run_id", "epoch"],
                                        set_={"record": insert.excluded.record}), rows


def put_batches(dialect: str, run_id: str, losses: list[dict]):
    """The statement and its parameter rows: replace the steps' batch losses."""
    insert = _insert(dialect, batches)
    rows = [{"run_id": run_id, "step": b["step"], "epoch": b["epoch"], "loss": b["loss"]}
            for b in losses]
    return insert.on_conflict_do_update(
        index_elements=["run_id", "step"],
        set_={"epoch": insert.excluded.epoch, "loss": insert.excluded.loss}), rows


def truncate(run_id: str, epochs_kept: int):
    """Forget epochs after ``epochs_kept``, and their batches."""
    return [table.delete().where(table.c.run_id == run_id, table.c.epoch > epochs_kept)
            for table in (epochs, batches)]


def start_count():
    return changes.insert().values(id=1, count=0)


def count_change():
    return changes.update().values(count=changes.c.count + 1)


def get_run(run_id: str):
    return runs.select().where(runs.c.id == run_id)


def list_runs():
    return runs.select().order_by(runs.c.created_at, runs.c.id)


def history(run_id: str, after_epoch: int):
    return (sa.select(epochs.c.record)
            .where(epochs.c.run_id == run_id, epochs.c.epoch > after_epoch)
            .order_by(epochs.c.epoch))


def batch_losses(run_id: str, after_step: int):
    return (sa.select(batches.c.step, batches.c.epoch, batches.c.loss)
            .where(batches.c.run_id == run_id, batches.c.step > after_step)
            .order_by(batches.c.step))


def _insert(dialect: str, table: sa.Table):
    """The dialect's own INSERT, which takes ON CONFLICT (SQLite's and PostgreSQL's alike).
    Looked up by name: the PostgreSQL dialect alone costs ~40 ms to import, and SQLAlchemy
    has already imported the one the engine speaks."""
    return importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert(table)


def change_marker(dialect: str):
    """What ``ChangeWatch`` reads. SQLite: ``PRAGMA data_version``, which changes for a
    connection whenever another one commits and reads no table. PostgreSQL has no such
    counter, so the store keeps its own (``changes``): a one-row primary-key read."""
    return sa.text("PRAGMA data_version") if dialect == "sqlite" else sa.select(changes.c.count)
