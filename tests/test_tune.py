"""trainwise tune: the search space is checked, trials are runs, pruning stops trials early,
batched trials equal sequential ones, and two workers share a PostgreSQL study through a
SIGKILL."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import optuna
import pytest
import yaml

from tests.helpers import small_config
from trainwise.session import open_store
from trainwise.tune import tune

RTOL = 1e-5  # batched vs single matrix products, float32 (see test_sweep.py)


def _tune_config(source, **block):
    cfg = small_config(source, epochs=4)
    cfg["tune"] = {"space": {"train.lr": {"low": 1e-3, "high": 1e-1, "log": True}},
                   "trials": 3, "seed": 0, "pruner": "none", **block}
    return cfg


def _write(tmp_path, cfg) -> str:
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return str(path)


# ----------------------------------------------------------------- the space
@pytest.mark.parametrize("space, named", [
    ({"train.lrr": {"low": 0.001, "high": 0.1}}, r"tune.space.train.lrr.*did you mean 'train.lr'"),
    ({"model.hidden": {"low": 8, "high": 64}}, r"tune.space.model.hidden.*choices"),
    ({"train.batch_size": {"low": 8.5, "high": 64}}, r"tune.space.train.batch_size.*whole"),
    ({"model.dropout": {"low": 0.1, "high": 1.5}}, r"tune.space.model.dropout.*1.5"),
    ({"train.lr": {"low": 0.1, "high": 0.01}}, r"tune.space.train.lr.*below high"),
    ({"sweep.seeds": {"choices": [1, 2]}}, r"tune.space.sweep.seeds.*cannot be searched"),
])
def test_a_bad_space_exits_2_naming_the_key(invoke, tmp_path, regression_csv, runs_dir, space,
                                            named):
    cfg = _tune_config(regression_csv)
    cfg["tune"]["space"] = space
    result = invoke("tune", _write(tmp_path, cfg), "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert result.output.startswith("Error:")
    assert re.search(named, " ".join(result.output.split())), result.output
    assert not list(runs_dir.glob("*-test-t*"))  # nothing trained


def test_train_ignores_the_tune_block(invoke, tmp_path, regression_csv, runs_dir):
    result = invoke("train", _write(tmp_path, _tune_config(regression_csv)), "--runs-dir",
                    runs_dir, "--quiet")
    assert result.exit_code == 0, result.output


# ----------------------------------------------------------------- trials are runs
def test_trials_are_runs_in_the_store_and_results_are_written(invoke, tmp_path, regression_csv,
                                                             runs_dir):
    result = invoke("tune", _write(tmp_path, _tune_config(regression_csv)), "--runs-dir",
                    runs_dir, "--quiet", "--study", "s1")
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="s1", storage=f"sqlite:///{runs_dir / 'tune.db'}")
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2]
    assert {t.state for t in trials} == {optuna.trial.TrialState.COMPLETE}
    store = open_store(runs_dir)
    stored = {row["id"]: row for row in store.list_runs()}
    store.close()
    for trial in trials:
        run_id = trial.user_attrs["run_id"]
        assert run_id.endswith(f"s1-t{trial.number}") and stored[run_id]["status"] == "finished"
        manifest = json.loads((runs_dir / run_id / "manifest.json").read_text())
        assert manifest["tune"]["trial"] == trial.number
        assert manifest["tune"]["params"] == {"train.lr": trial.params["train.lr"]}
    folder = runs_dir / "tune" / "s1"
    for name in ("trials.csv", "results.md", "summary.json", "plots/history.png",
                 "plots/curves.png"):
        assert (folder / name).is_file(), name
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["best"]["trial"] == study.best_trial.number
    assert set(summary["importances"]) == {"train.lr"}
    # A second start finds the study complete and trains nothing.
    again = invoke("tune", _write(tmp_path, _tune_config(regression_csv)), "--runs-dir",
                   runs_dir, "--quiet", "--study", "s1")
    assert again.exit_code == 0 and len(study.get_trials()) == 3


@pytest.mark.slow
def test_pruning_stops_poor_trials_early(tmp_path, regression_csv, runs_dir):
    cfg = _tune_config(regression_csv, trials=6, sampler="random", pruner="median",
                       startup_trials=1, warmup_epochs=1)
    cfg["tune"]["space"]["train.lr"] = {"low": 1e-5, "high": 1e-1, "log": True}
    cfg["train"]["epochs"] = 10
    result = tune(cfg, runs_dir=runs_dir, progress=False)
    pruned = result.table[result.table["state"] == "pruned"]
    assert len(pruned) >= 1
    assert (pruned["epochs"] < 10).all()
    assert result.pruning["epochs_saved"] == 10 * len(pruned) - pruned["epochs"].sum() > 0
    status = json.loads((runs_dir / pruned["run"].iloc[0] / "status.json").read_text())
    assert status["status"] == "finished" and "pruned by Optuna" in status["stop_reason"]


# ----------------------------------------------------------------- batched = sequential
def _enqueued_study(runs_dir, name, rates):
    storage = f"sqlite:///{runs_dir / 'tune.db'}"
    runs_dir.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize")
    for rate in rates:
        study.enqueue_trial({"train.lr": rate})


@pytest.mark.slow
def test_batched_trials_equal_sequential_ones(tmp_path, regression_csv, runs_dir):
    rates = [0.05, 0.01, 0.002]
    cfg = _tune_config(regression_csv, trials=3)
    cfg["data"]["split"] = {"seed": 0}
    results = {}
    for batch in (1, 3):
        _enqueued_study(runs_dir, f"b{batch}", rates)
        results[batch] = tune(cfg, runs_dir=runs_dir, progress=False, study=f"b{batch}",
                              batch=batch)
    sequential, batched = results[1].table, results[3].table
    assert list(batched["train.lr"]) == rates == list(sequential["train.lr"])
    for one, many in zip(sequential["value"], batched["value"]):
        assert math.isclose(one, many, rel_tol=RTOL)
    manifest = json.loads((runs_dir / batched["run"].iloc[0] / "manifest.json").read_text())
    assert manifest["training_path"]["path"] == "batched"
    for one, many in zip(sequential["run"], batched["run"]):
        first = json.loads((runs_dir / one / "history.json").read_text())
        second = json.loads((runs_dir / many / "history.json").read_text())
        assert [r["epoch"] for r in first] == [r["epoch"] for r in second]
        for a, b in zip(first, second):
            assert math.isclose(a["val_loss"], b["val_loss"], rel_tol=RTOL)


# ----------------------------------------------------------------- workers and SIGKILL
def _worker(config, runs_dir, postgres_url, log):
    command = [sys.executable, "-m", "trainwise.cli", "tune", config, "--runs-dir",
               str(runs_dir), "--storage", postgres_url, "--study", "shared", "--quiet"]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def _epochs_written_by(runs_dir, pid) -> int:
    """Epochs the run store holds for the runs of process ``pid``."""
    if not (runs_dir / "trainwise.db").exists():
        return 0
    store = open_store(runs_dir)
    try:
        return sum(len(store.history(row["id"])) for row in store.list_runs()
                   if row.get("pid") == pid)
    except sqlite3.OperationalError:  # the store's tables are being created
        return 0
    finally:
        store.close()


@pytest.mark.faults
def test_two_workers_share_a_postgres_study_through_a_sigkill(tmp_path, regression_csv,
                                                             runs_dir, postgres_url):
    """4 trials, 2 workers; the first is killed during its first trial. The survivor waits for
    the dead trial's heartbeat to go stale, marks it FAIL and runs a replacement: every trial
    number once, 4 completed trials plus the one FAIL, which names its resumable run."""
    cfg = _tune_config(regression_csv, trials=4, heartbeat_s=1, grace_s=3)
    cfg["train"]["epochs"] = 300  # ~2 s a trial: long enough to be killed inside one
    config = _write(tmp_path, cfg)
    with open(tmp_path / "a.log", "w") as log_a, open(tmp_path / "b.log", "w") as log_b:
        doomed = _worker(config, runs_dir, postgres_url, log_a)
        survivor = _worker(config, runs_dir, postgres_url, log_b)
        try:
            deadline = time.monotonic() + 120
            while _epochs_written_by(runs_dir, doomed.pid) == 0:
                assert time.monotonic() < deadline and doomed.poll() is None, \
                    (tmp_path / "a.log").read_text()
                time.sleep(0.1)
            os.kill(doomed.pid, signal.SIGKILL)
            assert survivor.wait(timeout=180) == 0, (tmp_path / "b.log").read_text()
        finally:
            for process in (doomed, survivor):
                if process.poll() is None:
                    process.kill()
                process.wait()
    storage = optuna.storages.RDBStorage(postgres_url.replace("postgresql://",
                                                              "postgresql+psycopg://"))
    trials = optuna.load_study(study_name="shared", storage=storage).get_trials()
    storage.engine.dispose()  # no connection left open (warnings are errors)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(numbers)))  # each number exactly once
    states = [t.state for t in trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 4
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(failed) == 1 and "ended" not in failed[0].user_attrs
    run_id = failed[0].user_attrs["run_id"]
    store = open_store(runs_dir)
    assert store.get_run(run_id)["pid"] == doomed.pid
    store.close()
    assert "was abandoned" in (tmp_path / "b.log").read_text()
