"""Same config and seed -> the same history, weights and metrics; another seed -> different."""

from __future__ import annotations

import trainwise
from tests.helpers import small_config


def _losses(run):
    return [(record["loss"], record["val_loss"]) for record in run.history]


def test_same_seed_same_history(regression_csv, runs_dir):
    config = small_config(regression_csv, epochs=4)
    config["model"]["dropout"] = 0.1
    first = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    second = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    assert _losses(first) == _losses(second)
    assert first.metrics == second.metrics
    assert first.run_dir.read_json("manifest.json")["data_fingerprint"] == \
        second.run_dir.read_json("manifest.json")["data_fingerprint"]


def test_other_seed_other_history(regression_csv, runs_dir):
    config = small_config(regression_csv, epochs=2)
    first = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    second = trainwise.fit(config, {"train.seed": 1}, runs_dir=runs_dir, progress=False)
    assert _losses(first) != _losses(second)


def test_deterministic_switch_runs_and_is_recorded(regression_csv, runs_dir):
    run = trainwise.fit(small_config(regression_csv, epochs=2, deterministic=True),
                        runs_dir=runs_dir, progress=False)
    assert run.run_dir.read_json("manifest.json")["deterministic"] is True
