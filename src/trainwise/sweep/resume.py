"""Continue a sweep that was killed or stopped: every member finishes as if nothing happened.

The sweep's folder holds its plan (``sweep.json``) and base config; each member's run names
its sweep and member index in its manifest. Finished members are kept, unfinished ones are
resumed (``resume_run``), members never started are trained, and the results are written.
A batched sweep's members are resumed together as one batched model again: their shared
checkpoint clock left them all at one epoch, and continuing them batched gives the very
numbers the uninterrupted sweep would have (alone, each would differ in the last bits).

Example:
    >>> resume_sweep("runs/sweeps/20261121-101500-auto_mpg")    # doctest: +SKIP
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from trainwise.atomic import write_json_atomic
from trainwise.config.load import load_config
from trainwise.errors import UserError
from trainwise.resume_run import open_resumed, resume
from trainwise.run import Run
from trainwise.session import Session, open_session
from trainwise.sweep import record_results
from trainwise.sweep.grid import SweepMember, expand
from trainwise.sweep.plan import Plan
from trainwise.sweep.train_members import member_record, train_batched, train_one
from trainwise.tracking.run_dir import RunDirectory
from trainwise.yaml_io import load_yaml

SWEEP_FILE = "sweep.json"


def is_sweep(reference: str | Path, runs_dir: str | Path) -> bool:
    """Whether ``reference`` names a sweep (its folder, or its id under runs/sweeps/)."""
    return _sweep_folder(reference, runs_dir) is not None


def resume_sweep(reference: str | Path, runs_dir: str | Path = "runs", progress: bool = True):
    """Finish a sweep: resume its unfinished members, train missing ones, write the results.

    Returns:
        The ``SweepResult``, as ``sweep`` returns it.

    Raises:
        UserError: not a sweep, or a member cannot be resumed (see ``resume_run.resume``).
    """
    folder = _sweep_folder(reference, runs_dir)
    if folder is None:
        raise UserError(f"'{reference}' is not a sweep folder or sweep id (looked in "
                        f"'{Path(runs_dir) / 'sweeps'}').")
    record = json.loads((folder / SWEEP_FILE).read_text())
    base = load_config(load_yaml((folder / "base_config.yaml").read_text()))
    members = expand(base, record["grid"], record["seeds"])
    plan = Plan(record["mode"], record["reason"])
    found = _member_runs(folder.name, Path(runs_dir))
    if progress:
        print(f"sweep {folder.name}: {len(found)} of {len(members)} members started; "
              f"continuing ({plan.mode})", file=sys.stderr)
    if plan.mode == "batched":
        runs = _resume_batched(members, found, plan, folder.name, Path(runs_dir), progress)
    else:
        runs = [_finish_member(member, found.get(member.index), folder.name, len(members),
                               Path(runs_dir)) for member in members]
    write_json_atomic(folder / SWEEP_FILE, {**record, "runs": [run.id for run in runs]})
    return record_results(folder, plan, members, runs, record["seeds"])


def _finish_member(member: SweepMember, run_dir: RunDirectory | None, sweep_id: str,
                   size: int, runs_dir: Path) -> Run:
    """One member of a sequential or parallel sweep, finished."""
    if run_dir is None:
        return train_one(member.config, runs_dir, member_record(member, sweep_id, size),
                         progress=False)
    if _status(run_dir) == "finished":
        return Run(run_dir)
    return resume(run_dir.path, runs_dir=runs_dir, progress=False)


def _resume_batched(members: list[SweepMember], found: dict[int, RunDirectory], plan: Plan,
                    sweep_id: str, runs_dir: Path, progress: bool) -> list[Run]:
    """Every member's session (resumed, or opened for one never started), batched again."""
    sessions: list[Session] = []
    try:
        for member in members:
            run_dir = found.get(member.index)
            if run_dir is None:
                session = open_session(member.config, runs_dir, progress=False)
            else:
                session = open_resumed(run_dir, None, runs_dir, False, [])
            session.record_manifest({"training_path": {"path": "batched", "reason": plan.reason},
                                     **member_record(member, sweep_id, len(members))})
            sessions.append(session)
    except BaseException:
        for session in sessions:
            session.close()
        raise
    epochs = {s.trainer.state.epoch for s in sessions if not s.trainer.finishing}
    if len(epochs) > 1:  # a sweep checkpointed before members shared one clock
        for session in sessions:
            session.close()
        print(f"the members were checkpointed at different epochs ({sorted(epochs)}), so "
              "each continues alone; alone, a member matches its batched result to float "
              "rounding, not bit for bit.", file=sys.stderr)
        return [_finish_member(member, found.get(member.index)
                               or _member_runs(sweep_id, runs_dir)[member.index],
                               sweep_id, len(members), runs_dir) for member in members]
    return train_batched(sessions, progress)


def _member_runs(sweep_id: str, runs_dir: Path) -> dict[int, RunDirectory]:
    """The sweep's member runs by member index, read from the runs' manifests."""
    found = {}
    for manifest in runs_dir.glob("*/manifest.json"):
        try:
            sweep = json.loads(manifest.read_text()).get("sweep") or {}
        except (OSError, ValueError):
            continue  # a run being written, or not a run: not a member
        if sweep.get("id") == sweep_id:
            found[sweep["member"]] = RunDirectory(manifest.parent)
    return found


def _status(run_dir: RunDirectory) -> str | None:
    path = run_dir.file("status.json")
    return json.loads(path.read_text()).get("status") if path.is_file() else None


def _sweep_folder(reference: str | Path, runs_dir: str | Path) -> Path | None:
    for candidate in (Path(reference), Path(runs_dir) / "sweeps" / str(reference)):
        if (candidate / SWEEP_FILE).is_file() and (candidate / "base_config.yaml").is_file():
            return candidate
    return None
