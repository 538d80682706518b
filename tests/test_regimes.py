"""The tutorial's regimes on Auto MPG: the diagnosis must name each one.

Epochs are cut to where each regime already shows, so the whole file runs in seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import trainwise

REGIMES = Path(__file__).resolve().parent.parent / "examples" / "regimes"
pytestmark = pytest.mark.integration

# config -> (epochs that still show it, the finding that must be named)
EXPECTED = {
    "underfit.yaml": (100, "underfitting"),
    "balanced.yaml": (500, "good_fit"),
    "overfit.yaml": (150, "overfitting"),
    "overfit_dropout.yaml": (300, "overfitting"),
    "overfit_l1.yaml": (400, "overfitting"),
    "overfit_l2.yaml": (150, "overfitting"),
    "overfit_batchnorm.yaml": (150, "overfitting"),
    "sgd_lr_0.01.yaml": (150, "not_converged"),
    "sgd_lr_0.001.yaml": (150, "not_converged"),
    "sgd_lr_0.0001.yaml": (150, "lr_too_low"),
    "sgd_lr_0.000001.yaml": (50, "lr_too_low"),
    "sgd_lr_too_high.yaml": (40, "lr_too_high"),
}


def test_every_regime_config_is_covered():
    assert sorted(p.name for p in REGIMES.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.slow  # training; tests/test_labelled_curves.py checks recorded curves of each
@pytest.mark.parametrize("config", EXPECTED, ids=lambda name: name.removesuffix(".yaml"))
def test_the_diagnosis_names_the_regime(config, runs_dir):
    epochs, expected = EXPECTED[config]
    run = trainwise.fit(REGIMES / config, {"train.epochs": epochs}, runs_dir=runs_dir,
                        progress=False)
    findings = run.run_dir.read_json("findings.json")
    named = [finding["kind"] for finding in findings]
    assert expected in named, findings
    if expected == "good_fit":
        assert [f for f in findings if f["severity"] != "info"] == []
    if expected != "underfitting":
        assert "underfitting" not in named
