"""Bring a run store's tables to what this trainwise writes: versioned migrations.

The store's ``schema_version`` row is the number of ``MIGRATIONS`` applied. A new store is
created whole at the last version; a store made before versions existed (the first
release's three tables, perhaps with some of the process columns) counts as version 0 and
runs every migration. A store newer than this trainwise is refused: an older trainwise
could write rows a newer reader misreads.

Two processes opening a new store at once (a run and the dashboard, or runs on two machines)
must not both migrate: the migration holds a lock that the other waits for, then finds the
work done. SQLite: ``BEGIN IMMEDIATE`` (the database's write lock, ``timeout`` 30 s);
PostgreSQL: a transaction-scoped advisory lock. Both databases roll DDL back with the
transaction, so a killed migration leaves the store as it was.
"""

from __future__ import annotations

import sqlalchemy as sa

from trainwise.errors import UserError
from trainwise.tracking import store_sql as sql

# Any constant; PostgreSQL advisory locks are per database, so stores never share it.
SCHEMA_LOCK_KEY = 0x7472_6169_6E77  # "trainw"


def add_process_columns(connection: sa.Connection) -> None:
    """Version 1: runs record their process and why they ended. These columns were added
    one by one before stores had versions, so an unversioned store may have some."""
    present = {column["name"] for column in sa.inspect(connection).get_columns("runs")}
    for name in sql.PROCESS_COLUMNS:
        if name not in present:
            kind = sql.runs.c[name].type.compile(dialect=connection.dialect)
            connection.exec_driver_sql(f"ALTER TABLE runs ADD COLUMN {name} {kind}")


def add_change_counter(connection: sa.Connection) -> None:
    """Version 2: the change counter that readers of a shared store watch (ChangeWatch)."""
    sql.changes.create(connection)
    connection.execute(sql.start_count())


# In order: MIGRATIONS[i] takes a store from version i to i + 1. Append only.
MIGRATIONS = (add_process_columns, add_change_counter)
VERSION = len(MIGRATIONS)


def prepare(engine: sa.Engine, label: str) -> None:
    """Create or migrate the store's tables, or refuse a store newer than this trainwise.

    Args:
        engine: the store's engine.
        label: the store as messages name it (password masked).

    Raises:
        UserError: the database cannot be reached, or the store's version is newer than
            ``VERSION``.
    """
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                # Readers never block the writer, nor it them; the mode is kept in the file.
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            found = stored_version(connection)
    except sa.exc.OperationalError as err:  # the first connection: is the store there?
        raise sql.unreachable(err, label, engine.dialect.name) from err
    _refuse_newer(found, label)
    if found == VERSION:
        return  # the usual case: no lock taken, nothing written
    with engine.begin() as connection:
        _lock_schema(connection)
        found = stored_version(connection)  # another process may have migrated meanwhile
        _refuse_newer(found, label)
        if found is None:
            sql.metadata.create_all(connection)
            connection.execute(sql.start_count())
        else:
            for migration in MIGRATIONS[found:]:
                migration(connection)
        _stamp(connection, VERSION)


def stored_version(connection: sa.Connection) -> int | None:
    """The store's schema version: 0 for tables made before versions, None for no tables."""
    inspector = sa.inspect(connection)
    if inspector.has_table(sql.schema_version.name):
        return connection.execute(sa.select(sa.func.max(sql.schema_version.c.version))).scalar()
    return 0 if inspector.has_table(sql.runs.name) else None


def _refuse_newer(found: int | None, label: str) -> None:
    if found is not None and found > VERSION:
        raise UserError(f"run store {label} has schema version {found}, but this trainwise "
                        f"knows versions up to {VERSION}: a newer trainwise wrote it. Upgrade "
                        "trainwise here (pip install -U trainwise), or choose another store")


def _lock_schema(connection: sa.Connection) -> None:
    """Hold other processes' migrations off until this transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
    else:
        # SQLAlchemy's SQLite driver begins a transaction only at the first write; take the
        # write lock before reading the version instead, so the read cannot go stale.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _stamp(connection: sa.Connection, version: int) -> None:
    sql.schema_version.create(connection, checkfirst=True)
    connection.execute(sql.schema_version.delete())
    connection.execute(sql.schema_version.insert().values(version=version))
