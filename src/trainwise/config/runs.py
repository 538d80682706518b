"""The ``runs`` section: where a training indexes its run (the run store)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import field_validator

from trainwise.config.section import Section

# What a store URL may start with (trainwise.tracking.store_url reads them).
STORE_SCHEMES = ("postgresql", "postgres", "sqlite")


class RunsConfig(Section):
    """Where runs are recorded. The run folders stay in ``--runs-dir``; the store indexes
    them and receives live epochs, and a PostgreSQL store is shared by many machines.

    Example:
        >>> RunsConfig(store="postgresql://trainer@db.lab:5432/trainwise").store
        'postgresql://trainer@db.lab:5432/trainwise'
    """

    # postgresql://user@host:5432/database (one store for many machines; pip install
    # 'trainwise[postgres]') or sqlite:///path/to/trainwise.db. None: $TRAINWISE_STORE if
    # set, else <runs-dir>/trainwise.db. `trainwise runs|show|serve --store URL` read it.
    store: str | None = None

    @field_validator("store")
    @classmethod
    def _check_store(cls, store: str | None) -> str | None:
        if not store:
            return None
        scheme = store.split("://", 1)[0].split("+", 1)[0].lower() if "://" in store else ""
        if scheme not in STORE_SCHEMES:
            raise ValueError("not a store URL; write postgresql://user@host:5432/database or "
                             "sqlite:///path/to/trainwise.db")
        if scheme != "sqlite" and urlsplit(store).password is not None:
            # The config is copied into every run folder and shown by the dashboard.
            raise ValueError("holds a password, and the config is copied into every run "
                             "folder; remove it from the URL and set PGPASSWORD or ~/.pgpass "
                             "(or give the URL in TRAINWISE_STORE)")
        return store
