"""Train a sweep's members by its plan: as one batched model, one after another, or in
worker processes. Each member leaves an ordinary run directory whose manifest names the sweep.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from tqdm.auto import tqdm

from trainwise.config.load import load_config
from trainwise.config.schema import Config
from trainwise.fused import fused_eligibility
from trainwise.models.build import build_model
from trainwise.run import Run
from trainwise.errors import UserError
from trainwise.session import Session, open_session
from trainwise.tasks.registry import task_for
from trainwise.sweep.batched import BatchedTraining
from trainwise.sweep.grid import SweepMember
from trainwise.sweep.plan import Plan
from trainwise.tracking.run_dir import RunDirectory
from trainwise.training.losses import build_loss


def fused_problem(cfg: Config) -> str | None:
    """Why the fused step cannot train ``cfg``'s model (the batched step needs it), or None.

    Judged on the model built with placeholder widths: what the fused step depends on is the
    layers, activations, loss and options, not the data's width, so the data (which may be
    large) is read once, by the members' sessions.
    """
    if cfg.train.fused == "off":
        return "train.fused: off"
    if cfg.model.name != "mlp":  # the fused and batched steps are the built-in MLP's
        return f"model.name: {cfg.model.name} (the batched step trains the built-in mlp)"
    outputs = 2 if cfg.task.type == "classification" else 1
    model = build_model(cfg.model, 1, outputs, task_for(cfg.task.type).probabilistic)
    verdict = fused_eligibility(model, cfg, build_loss(cfg.task, None, None))
    return None if verdict else verdict.reason


def train_members(members: list[SweepMember], plan: Plan, sweep_id: str, runs_dir: Path,
                  workers: int, progress: bool) -> list[Run]:
    """Every member's finished (or stopped) run, in member order."""
    if plan.mode == "batched":
        return _batched(members, plan, sweep_id, runs_dir, progress)
    if plan.mode == "parallel":
        return _parallel(members, sweep_id, runs_dir, workers)
    runs = []
    for member in tqdm(members, desc="sweep", unit="run", disable=not progress):
        runs.append(train_one(member.config, runs_dir, member_record(member, sweep_id, len(members)),
                               progress=False))
    return runs


def _batched(members: list[SweepMember], plan: Plan, sweep_id: str, runs_dir: Path,
             progress: bool) -> list[Run]:
    """All members as one ``BatchedTraining``; the data is prepared once for all of them."""
    first = open_session(members[0].config, runs_dir, progress=False)
    sessions = [first] + [open_session(member.config, runs_dir, progress=False, data=first.data)
                          for member in members[1:]]
    for member, session in zip(members, sessions):
        session.record_manifest({
            "training_path": {"path": "batched", "reason": plan.reason},
            **member_record(member, sweep_id, len(members))})
    return train_batched(sessions, progress)


def train_batched(sessions: list[Session], progress: bool) -> list[Run]:
    """Train opened (or resumed) member sessions as one batched model and conclude each.

    The members share one checkpoint clock, so they all write ``last.pt`` at the same
    epochs: a killed sweep resumes them together, from one epoch, as one batched model again
    (``sweep.resume``), which is what makes its result bit-identical.
    """
    clock = sessions[0].checkpointer.clock
    for session in sessions[1:]:
        session.checkpointer.clock = clock
    try:
        unfused = [s.training_path["reason"] for s in sessions if s.trainer.fused_step is None]
        if unfused:  # the plan judged the model alone; the data can still decide otherwise
            raise UserError(f"sweep.mode: batched needs the fused step, which this run cannot "
                            f"use ({unfused[0]}); use sweep.mode: sequential.")
        baselines = None  # one data, one task: every member's baselines are the first's
        for session in sessions:
            baselines = session.begin(baselines)
        training = BatchedTraining(sessions)
        with tqdm(total=sessions[0].trainer.epochs, initial=sessions[0].trainer.state.epoch,
                  desc="sweep (batched)", unit="epoch", disable=not progress) as bar:
            training.on_epoch = lambda active: (bar.update(1), bar.set_postfix(training=active))
            training.fit()
        return [session.conclude(draw_plots=False) for session in sessions]
    except BaseException as error:
        # Every member not yet concluded ends recorded: failed, or interrupted by a second
        # Ctrl-C; the error to raise is the same for all, so the first one's is kept.
        raised = [session.fail(error) for session in sessions if not session.concluded][:1]
        if not raised or raised[0] is error:
            raise
        raise raised[0] from error


def _parallel(members: list[SweepMember], sweep_id: str, runs_dir: Path,
              workers: int) -> list[Run]:
    """Separate runs in ``workers`` processes, each with its share of the CPU threads."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawn: a forked child would inherit torch's thread pools and locks mid-state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(_train_in_process, member.config.model_dump(mode="json"),
                               str(runs_dir), member_record(member, sweep_id, len(members)),
                               threads) for member in members]
        paths = [future.result() for future in futures]
    return [Run(RunDirectory(path)) for path in paths]


def _train_in_process(raw_config: dict, runs_dir: str, record: dict, threads: int) -> str:
    torch.set_num_threads(threads)
    return str(train_one(load_config(raw_config), Path(runs_dir), record, progress=False).path)


def train_one(cfg: Config, runs_dir: Path, record: dict, progress: bool) -> Run:
    session = open_session(cfg, runs_dir, progress=progress)
    session.record_manifest(record)
    # Plots as batched members: `trainwise report` draws them. Signals as the sweep's batched
    # training handles them: Ctrl-C stops the member after its step.
    return session.train(draw_plots=False, handle_signals=True)


def member_record(member: SweepMember, sweep_id: str, size: int) -> dict:
    """What a member's manifest says of its sweep."""
    return {"sweep": {"id": sweep_id, "member": member.index, "members": size,
                      "point": member.point, "values": member.values, "seed": member.seed}}
