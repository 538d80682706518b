"""A study's results, read from its storage and its trials' run folders: one row per trial,
the best trial, parameter importances, what pruning saved; written to
``<runs_dir>/tune/<study>/`` as trials.csv, results.md, summary.json and two plots."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import TrialState

from trainwise.atomic import write_json_atomic, write_text_atomic
from trainwise.sweep.results import as_markdown
from trainwise.tune.plots import plot_history, plot_trial_curves
from trainwise.tune.trials import ENDED

TUNE_FOLDER = "tune"  # under the runs folder: one folder per study


@dataclass
class TuneResult:
    """What a study has produced so far.

    Attributes:
        path: the study's results folder.
        table: one row per trial, in trial order.
        best: the best trial's number, value, params and run id (None before any completes).
        importances: parameter → importance (None with fewer than 2 completed trials).
        importance_note: why there are no importances, or which evaluator gave them.
        pruning: trials pruned, epochs trained by them, epochs they had planned.
    """

    path: Path
    table: pd.DataFrame
    best: dict | None
    importances: dict[str, float] | None
    importance_note: str
    pruning: dict


def summarize(study: optuna.Study, runs_dir: Path, monitor: str) -> TuneResult:
    """Read the study and write its results folder."""
    folder = Path(runs_dir) / TUNE_FOLDER / study.study_name
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    trials = study.get_trials(deepcopy=False)
    table = trial_table(trials)
    best = _best(study)
    importances, note = _importances(study)
    pruning = _pruning(trials)
    write_text_atomic(folder / "trials.csv", table.to_csv(index=False))
    write_json_atomic(folder / "summary.json", {
        "study": study.study_name, "direction": study.direction.name.lower(),
        "monitor": monitor, "best": best, "importances": importances,
        "importance_note": note, "pruning": pruning})
    write_text_atomic(folder / "results.md", _markdown(study, table, best, importances, note,
                                                       pruning))
    plot_history(table, study.direction.name.lower(), monitor, folder / "plots" / "history.png")
    plot_trial_curves(_curves(trials, monitor), monitor, folder / "plots" / "curves.png")
    return TuneResult(folder, table, best, importances, note, pruning)


def trial_table(trials: list[optuna.trial.FrozenTrial]) -> pd.DataFrame:
    """One row per trial: number, state, how its run ended, value, parameters, run, epochs."""
    rows = []
    for trial in trials:
        attrs = trial.user_attrs
        ended = attrs.get(ENDED) or ("abandoned" if trial.state == TrialState.FAIL else "")
        rows.append({"trial": trial.number, "state": trial.state.name.lower(), "ended": ended,
                     "value": trial.value if trial.value is not None else math.nan,
                     **attrs.get("params", {}), "run": attrs.get("run_id", ""),
                     "epochs": attrs.get("epochs"), "epochs_planned": attrs.get("epochs_planned")})
    return pd.DataFrame(rows)


def _best(study: optuna.Study) -> dict | None:
    if not any(trial.state == TrialState.COMPLETE for trial in study.get_trials(deepcopy=False)):
        return None
    best = study.best_trial
    return {"trial": best.number, "value": best.value, "params": best.user_attrs.get("params",
                                                                                   best.params),
            "run": best.user_attrs.get("run_id")}


def _importances(study: optuna.Study) -> tuple[dict[str, float] | None, str]:
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if len(complete) < 2:
        return None, (f"parameter importances need at least 2 completed trials; the study has "
                      f"{len(complete)}")
    try:
        found = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError) as error:  # e.g. every trial drew the same values
        return None, f"parameter importances could not be computed: {error}"
    # A list-valued choice is searched as its index (key#); show it under its key.
    return ({key.rstrip("#"): value for key, value in found.items()},
            "fANOVA importances over the completed trials (they sum to 1)")


def _pruning(trials: list[optuna.trial.FrozenTrial]) -> dict:
    pruned = [t for t in trials if t.user_attrs.get(ENDED) == "pruned"]
    trained = sum(t.user_attrs.get("epochs") or 0 for t in pruned)
    planned = sum(t.user_attrs.get("epochs_planned") or 0 for t in pruned)
    return {"pruned": len(pruned), "epochs_trained": trained, "epochs_planned": planned,
            "epochs_saved": planned - trained}


def _curves(trials: list[optuna.trial.FrozenTrial], monitor: str) -> list[tuple]:
    """(trial number, state, epochs, values) of every trial whose run folder is here (with
    workers on other machines, theirs may not be)."""
    curves = []
    for trial in trials:
        history = Path(trial.user_attrs.get("run_path", "/nonexistent")) / "history.json"
        if not history.is_file():
            continue
        records = json.loads(history.read_text(encoding="utf-8"))
        curves.append((trial.number, trial.user_attrs.get(ENDED, "abandoned"),
                       [record["epoch"] for record in records],
                       [record.get(monitor, math.nan) for record in records]))
    return curves


def _markdown(study, table, best, importances, note, pruning) -> str:
    lines = [f"# Study {study.study_name}", ""]
    if best is None:
        lines.append("No trial has completed yet.")
    else:
        lines.append(f"Best: trial {best['trial']}, value {best['value']:.6g} "
                     f"({study.direction.name.lower()}), run {best['run']}, "
                     f"params {json.dumps(best['params'])}")
    lines += ["", (f"Pruned: {pruning['pruned']} trials, {pruning['epochs_trained']} epochs "
                   f"trained of {pruning['epochs_planned']} planned "
                   f"({pruning['epochs_saved']} saved)"), ""]
    if importances:
        lines += ["| parameter | importance |", "|---|---|",
                  *[f"| {key} | {value:.3f} |" for key, value in importances.items()], ""]
    lines += [note, "", as_markdown(table)]
    return "\n".join(lines)
