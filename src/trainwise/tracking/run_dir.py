"""``runs/<run-id>/``: every file of one run, and how to find a run by id or path."""

from __future__ import annotations

import json
import re
import shutil
import time
from datetime import datetime
from collections.abc import Callable
from pathlib import Path

from trainwise.atomic import remove_temporaries, write_json_atomic, write_text_atomic
from trainwise.errors import UserError
from trainwise.tracking.run_lock import RunLock

# A folder without config.yaml this old, that no process holds, is a start that was killed
# before its first file: removed when the next run is created beside it.
ABANDONED_AFTER_S = 60.0


class RunDirectory:
    """The files of one run. Every write is atomic.

    Layout: ``config.yaml`` (resolved), ``manifest.json``, ``preprocessing.json``,
    ``data_summary.json``, ``model_summary.json``, ``model.safetensors`` (final weights),
    ``checkpoints/{best,last}.pt``, ``history.json``/``.csv``, ``batch_history.csv``,
    ``metrics.json``, ``status.json``, ``plots/*.png``, and ``lock`` (see ``RunLock``).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = RunLock(self.path)

    @classmethod
    def create(cls, runs_dir: str | Path, name: str, lock: bool = False,
               claim: Callable[[str, Path], bool] | None = None) -> RunDirectory:
        """Make a new, uniquely named run folder under ``runs_dir``.

        Args:
            runs_dir: the workspace's runs folder.
            name: the run's name (the folder is ``<date>-<time>-<name>``).
            lock: take the run's lock at once (a run that will train; see ``acquire``).
            claim: ``claim(run_id, path)`` reserves the id in the run store and says whether
                it was free; a store shared by several machines (PostgreSQL) may hold the same
                id from another runs folder, and the next free name is taken then.
        """
        remove_abandoned_starts(runs_dir)
        path = unique_folder(runs_dir, name, claim)
        (path / "checkpoints").mkdir()
        (path / "plots").mkdir()
        run_dir = cls(path)
        if lock:
            run_dir.acquire()
        return run_dir

    def acquire(self, what: str | None = None) -> None:
        """Become the one process that writes this run (``RunLock``); refused while another
        process trains it. Then clear what a killed writer left: temporary files."""
        self._lock.acquire(what or f"run {self.run_id}")
        for folder in (self.path, self.checkpoints, self.plots):
            remove_temporaries(folder)

    def release(self) -> None:
        """Let another process write the run (also happens when this process ends)."""
        self._lock.release()

    def in_use(self) -> bool:
        """Whether another process holds the run's lock (trains it) right now."""
        return self._lock.held_elsewhere()

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    def file(self, name: str) -> Path:
        return self.path / name

    def exists(self, name: str) -> bool:
        return (self.path / name).exists()

    def write_json(self, name: str, data) -> None:
        write_json_atomic(self.path / name, data)

    def write_text(self, name: str, text: str) -> None:
        write_text_atomic(self.path / name, text)

    def read_json(self, name: str):
        path = self.path / name
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"run '{self.path}' has no {name}; it is not a complete "
                            "trainwise run directory.") from None
        except json.JSONDecodeError as err:
            raise UserError(f"'{path}' is not valid JSON ({err}); the run record was "
                            "edited or damaged.") from None


def resolve_run(reference: str | Path, runs_dir: str | Path = "runs") -> RunDirectory:
    """Find a run by path, by id under ``runs_dir``, by a unique id prefix, or 'last'."""
    runs_dir = Path(runs_dir)
    direct = Path(reference)
    if (direct / "config.yaml").is_file():
        return RunDirectory(direct)
    candidates = sorted(p for p in runs_dir.glob("*") if (p / "config.yaml").is_file()) \
        if runs_dir.is_dir() else []
    if str(reference) == "last" and candidates:
        return RunDirectory(max(candidates, key=lambda p: p.stat().st_mtime))
    matches = [p for p in candidates if p.name == str(reference)] or \
              [p for p in candidates if p.name.startswith(str(reference))]
    if len(matches) == 1:
        return RunDirectory(matches[0])
    known = ", ".join(p.name for p in candidates[-5:]) or "none yet"
    problem = "matches several runs" if matches else "is not a run directory or run id"
    raise UserError(f"run '{reference}' {problem} (looked in '{runs_dir}'); recent runs: "
                    f"{known}. Give a run's path or its full id (see `trainwise runs`).")


def remove_abandoned_starts(runs_dir: str | Path) -> None:
    """Delete run folders whose start was killed before their config.yaml was written.

    Such a folder holds no record to resume from (config.yaml is a run's first file) and
    has no row in the store; a folder still being opened is younger than
    ``ABANDONED_AFTER_S`` or locked, and is left alone.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return
    now = time.time()
    for folder in runs_dir.iterdir():
        if (folder.is_dir() and not folder.name.startswith(".")
                and not (folder / "config.yaml").exists()
                and now - folder.stat().st_mtime > ABANDONED_AFTER_S
                and (folder / "checkpoints").is_dir()  # made by RunDirectory.create
                and not RunDirectory(folder).in_use()):
            shutil.rmtree(folder, ignore_errors=True)


def unique_folder(parent: str | Path, name: str,
                  claim: Callable[[str, Path], bool] | None = None) -> Path:
    """Make a new folder ``<date>-<time>-<name>`` under ``parent`` (``-2``, ``-3`` if taken,
    here or, with ``claim``, in the run store)."""
    stem = f"{datetime.now():%Y%m%d-%H%M%S}-{_slug(name)}"
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        path = parent / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        if claim is not None and not claim(path.name, path):
            path.rmdir()
            continue
        return path
    raise RuntimeError(f"could not create a folder under {parent}")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:40] or "run"
