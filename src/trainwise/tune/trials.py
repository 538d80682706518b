"""Train asked trials as trainwise runs and tell Optuna how each ended.

A trial is a whole run: its own run directory and run-store row, named
``<study>-t<number>``, its manifest's ``tune`` entry naming the study, trial and parameters.
The trial's user attrs name the run (``run_id``, ``run_path``) from the moment the run exists,
so a trial whose worker died still leads to a run that ``trainwise resume`` continues.

Several trials asked together train as one batched model when their configs allow it
(``sweep.plan.batch_problem``), else one after another. In a batch every member reports to its
own trial each epoch and a pruned member stops as an early-stopped one does: frozen, its record
ending there. The batch's cost only falls once every member has stopped, since one batched
step costs about the same for K members as for fewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from trainwise.config.schema import Config
from trainwise.run import Run
from trainwise.session import Session, open_session
from trainwise.sweep.plan import batch_problem
from trainwise.sweep.train_members import fused_problem, train_batched
from trainwise.tune.pruning import ReportToTrial

# The trial user attr saying how its run ended; a FAIL trial without it was abandoned (its
# worker died or was stopped) and does not count towards tune.trials.
ENDED = "ended"


@dataclass
class TrialPlan:
    """One asked trial and the run config it trains."""

    trial: optuna.Trial
    params: dict[str, Any]
    config: Config


def batch_reason(plans: list[TrialPlan]) -> str | None:
    """Why these trials cannot train as one batched model; None when they can."""
    if len(plans) < 2:
        return "one trial"
    return batch_problem([plan.config for plan in plans]) or fused_problem(plans[0].config)


def train_one(plan: TrialPlan, record: dict, runs_dir: Path, progress: bool) -> str:
    """Train one trial's run and tell the study; returns how it ended (see ``tell``)."""
    monitor = plan.config.train.early_stopping.monitor
    reporter = ReportToTrial(plan.trial, monitor)
    session = open_session(plan.config, runs_dir, progress=progress, callbacks=[reporter])
    link(plan, session, record)
    # Plots as a sweep's members: `trainwise report RUN` draws them. Ctrl-C stops the trial.
    run = session.train(draw_plots=False, handle_signals=True)
    return tell(plan.trial, run, reporter)


def train_batch(plans: list[TrialPlan], record: dict, runs_dir: Path,
                progress: bool) -> list[str]:
    """Train trials as one batched model (the data prepared once) and tell the study each."""
    reporters = [ReportToTrial(plan.trial, plan.config.train.early_stopping.monitor)
                 for plan in plans]
    sessions: list[Session] = []
    try:
        for plan, reporter in zip(plans, reporters):
            shared = sessions[0].data if sessions else None
            sessions.append(open_session(plan.config, runs_dir, progress=False,
                                         callbacks=[reporter], data=shared))
            sessions[-1].record_manifest({"training_path": {
                "path": "batched", "reason": f"{len(plans)} trials asked together (tune.batch)"}})
            link(plan, sessions[-1], record)
    except BaseException as error:
        for session in sessions:
            session.fail(error)
        raise
    runs = train_batched(sessions, progress)
    return [tell(plan.trial, run, reporter)
            for plan, run, reporter in zip(plans, runs, reporters)]


def link(plan: TrialPlan, session: Session, record: dict) -> None:
    """Trial and run name each other: the run's manifest, the trial's user attrs."""
    trial = plan.trial
    session.record_manifest({"tune": {**record, "trial": trial.number, "params": plan.params}})
    trial.set_user_attr("run_id", session.run_dir.run_id)
    trial.set_user_attr("run_path", str(session.run_dir.path.resolve()))
    trial.set_user_attr("params", plan.params)  # the values, also for choices of lists


def tell(trial: optuna.Trial, run: Run, reporter: ReportToTrial) -> str:
    """Finish the trial from its run's status; returns ``finished``, ``pruned``,
    ``diverged`` or ``stopped`` (Ctrl-C: the run resumes, the trial is left to others)."""
    status = run.status
    trial.set_user_attr("epochs", status.get("epochs"))
    trial.set_user_attr("epochs_planned", status.get("epochs_planned"))
    if status["status"] == "stopped":
        tell_abandoned(trial)
        return "stopped"
    value = status.get("best_value")
    if status["status"] == "diverged" or value is None:
        trial.set_user_attr(ENDED, "diverged")
        trial.study.tell(trial, state=TrialState.FAIL)
        return "diverged"
    if reporter.pruned_at is not None:
        trial.set_user_attr(ENDED, "pruned")
        trial.set_user_attr("best_value", value)
        trial.study.tell(trial, state=TrialState.PRUNED)
        return "pruned"
    trial.set_user_attr(ENDED, "finished")
    trial.study.tell(trial, value)
    return "finished"


def tell_failed(trial: optuna.Trial, error: BaseException) -> None:
    """A trial whose run raised: FAIL, counted (it ended; running it again would fail again)."""
    trial.set_user_attr(ENDED, f"failed: {type(error).__name__}")
    trial.study.tell(trial, state=TrialState.FAIL)


def tell_abandoned(trial: optuna.Trial) -> None:
    """FAIL without an end: the trial does not count, and a worker asks another instead."""
    trial.study.tell(trial, state=TrialState.FAIL)
