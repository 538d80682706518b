"""``runs/<run-id>/``: every file of one run, and how to find a run by id or path."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from trainwise.atomic import write_json_atomic, write_text_atomic
from trainwise.errors import UserError


class RunDirectory:
    """The files of one run. Every write is atomic.

    Layout: ``config.yaml`` (resolved), ``manifest.json``, ``preprocessing.json``,
    ``data_summary.json``, ``model_summary.json``, ``model.safetensors`` (final weights),
    ``checkpoints/{best,last}.pt``, ``history.json``/``.csv``, ``batch_history.csv``,
    ``metrics.json``, ``status.json``, ``plots/*.png``.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def create(cls, runs_dir: str | Path, name: str) -> RunDirectory:
        """Make a new, uniquely named run folder under ``runs_dir``."""
        path = unique_folder(runs_dir, name)
        (path / "checkpoints").mkdir()
        (path / "plots").mkdir()
        return cls(path)

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


def unique_folder(parent: str | Path, name: str) -> Path:
    """Make a new folder ``<date>-<time>-<name>`` under ``parent`` (``-2``, ``-3`` if taken)."""
    stem = f"{datetime.now():%Y%m%d-%H%M%S}-{_slug(name)}"
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        path = parent / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RuntimeError(f"could not create a folder under {parent}")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:40] or "run"
