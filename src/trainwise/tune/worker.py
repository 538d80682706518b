"""One tune worker: claim trials while the study wants more, train them, repeat.

Any number of workers (processes, machines) may share one study. Before asking, a worker takes
the study's lock (``lock.py``), marks abandoned trials FAIL (Optuna's heartbeat: their worker
stopped beating for ``tune.grace_s``) and counts the trials that use the budget: those
finished, pruned, diverged or failed, and those running. Only that many short of
``tune.trials`` does it ask, so all workers together ask exactly the budget, each trial number
once. An abandoned trial is FAIL and does not count: another worker asks a new trial in its
place, and the dead run stays resumable (``trainwise resume``; the trial names it).

A worker with nothing to claim while trials still run elsewhere waits instead of leaving: if
their worker dies, someone must replace them.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from trainwise.config.schema import Config, TuneConfig
from trainwise.errors import RunFailed, UserError
from trainwise.tune.heartbeat import TrialHeartbeat
from trainwise.tune.space import suggest, trial_config
from trainwise.tune.study import Storage
from trainwise.tune.trials import (
    ENDED,
    TrialPlan,
    batch_reason,
    tell_abandoned,
    tell_failed,
    train_batch,
    train_one,
)


@dataclass
class Search:
    """What a worker works with: the base config, its ``tune`` block, the study."""

    cfg: Config
    block: TuneConfig
    name: str
    storage: Storage
    rdb: optuna.storages.RDBStorage
    study: optuna.Study
    runs_dir: Path
    progress: bool
    outcomes: dict[int, str] = field(default_factory=dict)  # this worker's trials: how ended


def counts(trial: FrozenTrial) -> bool:
    """Whether a trial uses the budget: it is running or ended, not abandoned or queued."""
    if trial.state == TrialState.WAITING:
        return False  # enqueued by hand: asking takes it first
    return trial.state != TrialState.FAIL or ENDED in trial.user_attrs


def work(search: Search) -> dict[int, str]:
    """Claim and train trials until the study has its ``tune.trials``; returns this worker's
    trial numbers and how each ended.

    Raises:
        UserError, RunFailed: a trial's run could not train (its trial is FAIL).
    """
    while True:
        trials = claim(search)
        if trials is None:
            return search.outcomes
        if not trials:  # the budget is taken, but trials run elsewhere: wait for their end
            time.sleep(search.block.heartbeat_s)
            continue
        if "stopped" in train_claimed(search, trials):
            return search.outcomes  # Ctrl-C: the user ends this worker


def claim(search: Search) -> list[optuna.Trial] | None:
    """Up to ``tune.batch`` new trials; [] to wait; None when the study needs no more."""
    with search.storage.lock:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(search.study)
        existing = search.study.get_trials(deepcopy=False)
        free = search.block.trials - sum(counts(trial) for trial in existing)
        if free <= 0:
            running = any(trial.state == TrialState.RUNNING for trial in existing)
            return [] if running else None
        with warnings.catch_warnings():
            # "Heartbeat ... supposed to be used with Study.optimize": we beat ourselves.
            warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
            trials = [search.study.ask() for _ in range(min(free, search.block.batch))]
        for trial in trials:  # at once: a trial without a beat could never be found stale
            search.rdb.record_heartbeat(trial._trial_id)
    return trials


def train_claimed(search: Search, trials: list[optuna.Trial]) -> list[str]:
    """Train claimed trials (batched when they allow it) while beating for them; returns how
    each ended. Trials not trained (a failure or Ctrl-C before them) are left to others."""
    plans = plan_trials(search, trials)
    record = {"study": search.name, "storage": search.storage.shown}
    reason = batch_reason(plans)
    if search.progress and len(plans) > 1:
        how = "one batched model" if reason is None else f"one after another ({reason})"
        print(f"tune: trials {', '.join(str(t.number) for t in trials)}: {how}",
              file=sys.stderr)
    ended: list[str] = []
    with TrialHeartbeat(search.rdb, trials, search.block.heartbeat_s):
        try:
            if reason is None:
                ended = train_batch(plans, record, search.runs_dir, search.progress)
            else:
                for plan in plans:
                    ended.append(train_one(plan, record, search.runs_dir, search.progress))
                    if ended[-1] == "stopped":
                        break
        except (RunFailed, UserError) as error:
            # A batch fails as a whole; one after another, the trial that was training.
            for trial in trials[len(ended):] if reason is None else trials[len(ended):][:1]:
                tell_failed(trial, error)
            raise
        finally:
            _abandon_untold(search, trials)
    search.outcomes.update({trial.number: end for trial, end in zip(trials, ended)})
    return ended


def plan_trials(search: Search, trials: list[optuna.Trial]) -> list[TrialPlan]:
    """Each trial's parameters and run config.

    Raises:
        UserError: a combination of values the config refuses (that trial is FAIL).
    """
    plans = []
    for trial in trials:
        params = suggest(trial, search.cfg, search.block.space)
        try:
            config = trial_config(search.cfg, params, f"{search.name}-t{trial.number}")
        except UserError as error:
            tell_failed(trial, error)
            _abandon_untold(search, trials)
            raise UserError(f"tune trial {trial.number} ({params}): {error}") from None
        plans.append(TrialPlan(trial, params, config))
    return plans


def _abandon_untold(search: Search, trials: list[optuna.Trial]) -> None:
    for trial in trials:
        if not search.rdb.get_trial(trial._trial_id).state.is_finished():
            tell_abandoned(trial)


def report_abandoned(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna's failed-trial callback: say which run the dead worker left, and how to go on."""
    run = trial.user_attrs.get("run_id")
    where = (f"its run {run} resumes with `trainwise resume {run}`" if run
             else "it had not started a run yet")
    print(f"tune: trial {trial.number} was abandoned (its worker stopped beating): marked FAIL, "
          f"and another trial takes its place; {where}", file=sys.stderr)
