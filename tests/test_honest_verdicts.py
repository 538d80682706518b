"""Verdicts a new user got wrong once, each on two tables: a run cut short is not converged,
a network worse than a linear model is no good fit (and dead units name the learning rate),
and a one-unit bottleneck is under-fitting."""

from __future__ import annotations

import pytest

import trainwise

# Training end to end (CI's slow set); tests/test_labelled_curves.py reads recorded curves of
# the same cases in the default set.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

TABLES = {
    "auto_mpg": {"source": "auto_mpg", "target": "mpg", "drop": ["car_name"],
                 "categorical": ["origin"]},
    "diabetes": {"source": "diabetes", "target": "progression"},
}
CASES = {  # overrides -> (findings that must be named, findings that must not)
    "cut_short": ({"train.epochs": 20, "train.lr": 0.01}, {"not_converged"}, {"good_fit"}),
    "lr_far_too_high": ({"train.epochs": 60, "train.lr": 3.0},
                        {"worse_than_linear", "dead_relu_units"},
                        {"good_fit", "not_converged"}),
    "one_hidden_unit": ({"train.epochs": 300, "model.hidden": [1]}, {"underfitting"},
                        {"good_fit"}),
}


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("case", CASES)
def test_the_verdict_is_honest(table, case, runs_dir):
    overrides, named, not_named = CASES[case]
    config = {"name": f"{table}-{case}", "data": TABLES[table], "task": {"type": "regression"},
              "model": {"hidden": [64, 64]}, "train": {"early_stopping": {"enabled": False}}}
    run = trainwise.fit(config, overrides, runs_dir=runs_dir, progress=False)
    findings = {finding["kind"]: finding for finding in run.run_dir.read_json("findings.json")}
    assert named <= set(findings), list(findings)
    assert not (not_named & set(findings)), list(findings)
    if case == "lr_far_too_high":
        assert "learning rate" in findings["worse_than_linear"]["message"]
