"""The run record: a run directory per run, and the run store that indexes them all."""

from trainwise.tracking.run_dir import RunDirectory, resolve_run
from trainwise.tracking.store import RunStore

__all__ = ["RunDirectory", "RunStore", "resolve_run"]
