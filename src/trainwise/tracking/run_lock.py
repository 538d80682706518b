"""One writer per run: an exclusive lock on the run directory while a process trains it.

The lock is ``flock`` on ``<run>/lock``. The kernel drops it when the holding process ends,
however it ends (SIGKILL included), so a dead run never stays locked, and no stale-lock
timeout is needed. The file itself stays empty: the holder's pid and host are in the run's
``process.json`` (``tracking.run_control``), which the refusal quotes.

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> lock = RunLock(folder)
    >>> lock.acquire("run demo")
    >>> RunLock(folder).held_elsewhere()
    True
    >>> lock.release()
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from trainwise.errors import UserError
from trainwise.tracking.run_control import read_process

LOCK_FILE = "lock"


class RunLock:
    """An exclusive, non-blocking lock on one run directory.

    Args:
        run_path: the run directory.
    """

    def __init__(self, run_path: str | Path):
        self.path = Path(run_path) / LOCK_FILE
        self._descriptor: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._descriptor is not None

    def acquire(self, what: str) -> None:
        """Take the lock, or refuse with who holds it.

        Args:
            what: the run, in words, for the message ("run 2026...-auto_mpg").

        Raises:
            UserError: another process holds it (it trains the run right now).
        """
        if self.held:
            return
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(self.path.parent)
            os.close(descriptor)
            raise UserError(f"{what} is being trained right now by another process ({holder}), "
                            f"which holds '{self.path}'. Only one process may write a run: "
                            "wait for it to end, or stop it (Ctrl-C in its terminal, or Stop "
                            "in trainwise serve) and then resume.") from None
        self._descriptor = descriptor

    def release(self) -> None:
        """Let go of the lock (closing the file releases it)."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    def held_elsewhere(self) -> bool:
        """Whether some other process (or other object) holds the lock now."""
        if self.held or not self.path.exists():
            return False
        descriptor = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(descriptor)  # also releases the shared lock just taken
        return False


def _describe(run_path: Path) -> str:
    process = read_process(run_path)
    if process is None:
        return "it has not recorded itself yet"
    return f"pid {process['pid']} on {process['host']}, since {process['started_at']}"
