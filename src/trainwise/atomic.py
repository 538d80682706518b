"""Atomic file writes: a temporary file in the same folder, flushed, then renamed over the target.

A kill at any instant leaves either the previous file or the new one, never half of one.

Durable writes also ``fsync`` the file before the rename, so a power cut cannot leave an
empty one either. That is what training depends on: checkpoints and weights are written
durable. The run's text records (JSON, CSV, YAML) and plots are atomic only: each is
rewritten from the checkpoint or the config when needed, the kernel writes them back within
seconds anyway, and an fsync per file (~20 per run, ~0.4 ms each on a fast disk, several ms
on many) was a measurable share of a small run's time.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _read_umask() -> int:
    current = os.umask(0)  # the only way to read it is to set it; put it straight back
    os.umask(current)
    return current


# Read once at import: os.umask is process-wide, so toggling it per write could race.
_UMASK = _read_umask()


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], None],
                 durable: bool = True, before_replace: Callable[[], None] | None = None) -> None:
    """Call ``write(handle)`` on a temporary file, then rename it to ``path``.

    Args:
        path: the file to (re)place.
        write: writes the content to the binary handle it is given.
        durable: fsync the content before the rename (see the module's docstring).
        before_replace: called once the new content is complete (and durable), just before
            it takes ``path``'s place: e.g. to move the old file aside as a fallback.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(temporary, 0o666 & ~_UMASK)
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            error.filename = str(path)  # a failed write() names no file; say which one
        raise


def remove_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files ``write_atomic`` leaves when a process is killed mid-write.

    Call it only while no other process writes ``folder`` (a run's lock held): a live
    writer's temporary is indistinguishable from a dead one's.

    Returns:
        The files removed.
    """
    removed = []
    for stale in Path(folder).glob(".*.tmp"):
        if stale.is_file():
            stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


def write_text_atomic(path: str | Path, text: str, durable: bool = False) -> None:
    """``text`` as UTF-8, atomically (and fsync'ed when ``durable``)."""
    write_atomic(path, lambda handle: handle.write(text.encode("utf-8")), durable)


def write_json_atomic(path: str | Path, data) -> None:
    """``data`` as indented JSON; a list of records (a history) one record per line."""
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        # json's C encoder per line: ``indent`` switches the whole dump to the pure-Python
        # one, ~10x slower, which a long history noticeably pays at the end of every run.
        lines = ",\n  ".join(json.dumps(item, default=_plain) for item in data)
        write_text_atomic(path, f"[\n  {lines}\n]\n")
    else:
        write_text_atomic(path, json.dumps(data, indent=2, default=_plain) + "\n")


def _plain(value):
    """JSON for numpy scalars and other number-likes."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
