"""One worker at a time in the study's critical moments: creating the tables and the study,
and counting the trials before asking for more (so that every worker together asks exactly
``tune.trials``).

Optuna numbers trials atomically, but "count, then ask" is two steps; without a lock two
workers that both see N - 1 trials would both ask, and the study would end with N + 1. The
lock lives where the study does: a PostgreSQL advisory lock (released by the server when a
killed worker's connection drops) or ``flock`` on a file beside the SQLite file (released by
the kernel when the process ends). Neither can outlive a dead worker, so there is no stale
lock to time out.
"""

from __future__ import annotations

import fcntl
import hashlib
from pathlib import Path
from typing import Self

import sqlalchemy

# Advisory locks take a 64-bit key; one per database is enough: claims last milliseconds.
ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"trainwise tune").digest()[:8], "big",
                              signed=True)


class StudyLock:
    """A re-usable lock over one storage (``with lock: ...``).

    Args:
        url: the storage's SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://``).
    """

    def __init__(self, url: str):
        self.url = sqlalchemy.engine.make_url(url)
        self._file = None
        self._connection = None

    def __enter__(self) -> Self:
        if self.url.get_backend_name() == "sqlite":
            path = Path(f"{self.url.database}.lock")
            self._file = path.open("a")
            fcntl.flock(self._file, fcntl.LOCK_EX)
        else:
            engine = sqlalchemy.create_engine(self.url, poolclass=sqlalchemy.pool.NullPool)
            self._connection = engine.connect()
            self._connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"),
                                     {"key": ADVISORY_KEY})
        return self

    def __exit__(self, *exc_info) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the flock
            self._file = None
        if self._connection is not None:
            self._connection.close()  # ending the session drops the advisory lock
            self._connection = None
