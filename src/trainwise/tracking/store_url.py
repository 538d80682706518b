"""Where the run store lives: the runs folder's SQLite file, or a URL (a shared PostgreSQL).

The choice, most specific first: the ``--store`` option of a command that reads runs, the
config's ``runs.store`` (training), the ``TRAINWISE_STORE`` environment variable, and
otherwise ``<runs-dir>/trainwise.db``. This module only names and parses; it imports no
database library, so every command can use it at no cost.

Example:
    >>> choose_store("runs", "postgresql://me@db.lab/trainwise")
    'postgresql://me@db.lab/trainwise'
    >>> masked("postgresql://me:secret@db.lab/trainwise")
    'postgresql://me:***@db.lab/trainwise'
    >>> sqlite_file("sqlite:////data/runs/trainwise.db")
    PosixPath('/data/runs/trainwise.db')
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from trainwise.errors import UserError

ENV_VAR = "TRAINWISE_STORE"
STORE_FILE = "trainwise.db"  # the default store's file in the runs folder
SQLITE_PREFIX = "sqlite:///"  # then a relative path, or a second "/" and an absolute one
POSTGRES_SCHEMES = ("postgresql", "postgres")  # also "postgresql+<driver>"
DRIVER = "psycopg"  # psycopg 3, the postgres extra's driver
WHERE_SET = "--store, the config's runs.store or TRAINWISE_STORE"
FORMS = "postgresql://user@host:5432/database or sqlite:///path/to/trainwise.db"


def choose_store(runs_dir: str | Path, store: str | None = None) -> str | Path:
    """The store to open: ``store`` (an option or the config's), else ``$TRAINWISE_STORE``,
    else the runs folder's SQLite file.

    Args:
        runs_dir: the runs folder (its ``trainwise.db`` is the default store).
        store: a URL given on the command line or in the config; None or "" for none.
    """
    chosen = store or os.environ.get(ENV_VAR)
    return chosen if chosen else Path(runs_dir) / STORE_FILE


def sqlite_file(location: str | Path) -> Path | None:
    """The SQLite file a path or ``sqlite:///`` URL names; None for a server's URL.

    Raises:
        UserError: ``location`` is a URL of neither kind.
    """
    if isinstance(location, Path) or "://" not in location:
        return Path(location)
    if location.startswith(SQLITE_PREFIX) and len(location) > len(SQLITE_PREFIX):
        return Path(location[len(SQLITE_PREFIX):].split("?", 1)[0])
    if _scheme(location) in POSTGRES_SCHEMES:
        return None
    raise UserError(f"run store '{masked(location)}' is not a store URL; give {FORMS} "
                    f"(in {WHERE_SET}), or leave them unset for the runs folder's "
                    f"{STORE_FILE}")


def server_url(location: str) -> str:
    """A PostgreSQL URL with the psycopg driver named, as SQLAlchemy wants it
    (``postgresql://`` and ``postgres://`` mean psycopg; an explicit driver is kept)."""
    scheme, rest = location.split("://", 1)
    return f"postgresql+{DRIVER}://{rest}" if scheme in POSTGRES_SCHEMES else location


def masked(location: str | Path) -> str:
    """The location as messages may show it: a URL's password replaced by ``***``."""
    text = str(location)
    if "://" not in text:
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    users, _, host = parts.netloc.rpartition("@")
    return text.replace(parts.netloc, f"{users.split(':', 1)[0]}:***@{host}", 1)


def _scheme(location: str) -> str:
    """``postgresql`` for ``postgresql+psycopg://...``: the database, without the driver."""
    return location.split("://", 1)[0].split("+", 1)[0].lower()
