"""Each finding on synthetic histories, and clean histories that must not be flagged."""

from __future__ import annotations

import numpy as np
import pytest

from trainwise.diagnostics import DiagnosisContext, Thresholds, diagnose

EPOCHS = np.arange(1, 101)
BASELINES = {"constant": {"train": 1.0, "val": 1.0}, "linear": {"train": 0.5, "val": 0.5}}


def history(loss, val=None, **extra) -> list[dict]:
    records = []
    for i, value in enumerate(loss):
        record = {"epoch": i + 1, "loss": float(value), "lr": 1e-3, "grad_norm": 1.0}
        if val is not None:
            record["val_loss"] = float(val[i])
        for key, values in extra.items():
            record[key] = float(values[i])
        records.append(record)
    return records


def context(**fields) -> DiagnosisContext:
    return DiagnosisContext(**{"baselines": BASELINES, "val_rows": 200, "lr": 1e-3,
                               "hidden": [64, 64], **fields})


def kinds(findings) -> list[str]:
    return [finding.kind for finding in findings]


def warnings_of(findings) -> list[str]:
    return [finding.kind for finding in findings if finding.severity != "info"]


def converging(scale=10.0, floor=0.1):
    return floor + (1 - floor) * np.exp(-EPOCHS / scale)


# ------------------------------------------------------------------ clean fits: no warnings
def test_a_clean_fit_is_called_good_and_nothing_else():
    loss = converging()
    findings = diagnose(history(loss, loss + 0.02), context())
    assert kinds(findings) == ["good_fit"]
    assert findings[0].evidence["vs_linear"] == pytest.approx(loss[-1] / 0.5)


def test_a_clean_fit_with_realistic_noise_is_not_flagged():
    rng = np.random.default_rng(0)
    loss = converging() * (1 + rng.normal(0, 0.01, 100))
    val = (converging() + 0.03) * (1 + rng.normal(0, 0.015, 100))
    assert warnings_of(diagnose(history(loss, val), context())) == []


def test_a_clean_fit_without_validation_or_baselines_is_not_flagged():
    assert warnings_of(diagnose(history(converging()), DiagnosisContext())) == []


def test_early_stopping_that_caught_overfitting_is_still_a_good_fit():
    loss = converging(floor=0.05)
    val = converging(floor=0.2) + 0.004 * np.maximum(0, EPOCHS - 50)
    findings = diagnose(history(loss, val), context(early_stopping=True))
    assert "good_fit" in kinds(findings)
    assert next(f for f in findings if f.kind == "overfitting").severity == "info"


# ------------------------------------------------------------------ each kind
def test_underfitting_when_no_better_than_a_linear_model():
    loss = 0.5 + 0.5 * np.exp(-EPOCHS / 5)
    findings = diagnose(history(loss, loss + 0.02), context())
    assert warnings_of(findings) == ["underfitting"]
    assert "linear model" in findings[0].message
    assert any("model.hidden: [256, 256]" in advice for advice in findings[0].advice)


def test_overfitting_names_the_epoch_it_began():
    loss = converging(floor=0.02)
    val = converging(floor=0.2) + 0.004 * np.maximum(0, EPOCHS - 40)
    findings = diagnose(history(loss, val), context())
    overfit = next(f for f in findings if f.kind == "overfitting")
    assert overfit.severity == "warning"
    assert 35 <= overfit.evidence["best_val_epoch"] <= 45
    assert overfit.evidence["gap_at_end"] > overfit.evidence["gap_at_best"]
    assert "would have stopped at epoch" in overfit.message
    assert "good_fit" not in kinds(findings)


def test_lr_too_high_from_a_spike():
    loss = converging()
    loss[30:33] += 0.6  # a jump larger than 30 % of the progress, which then recovers
    assert "lr_too_high" in kinds(diagnose(history(loss), context()))


def test_lr_too_high_from_oscillation_that_never_learns():
    rng = np.random.default_rng(1)
    loss = 1.05 + 0.1 * rng.standard_normal(100)
    findings = diagnose(history(loss), context(lr=0.5))
    assert "lr_too_high" in kinds(findings)
    assert any("train.lr: 0.17" in a for f in findings for a in f.advice)


def test_lr_too_low_from_a_slow_straight_descent():
    loss = 1.0 - 0.0015 * EPOCHS  # straight, ending at 0.85, far above the linear model's 0.5
    findings = diagnose(history(loss, loss + 0.02), context(optimizer="sgd"))
    assert kinds(findings) == ["lr_too_low"]  # not also under-fitting or not converged


def test_lr_too_low_when_the_loss_barely_moves():
    loss = 1.1 - 1e-5 * EPOCHS
    findings = diagnose(history(loss), context())
    assert kinds(findings) == ["lr_too_low"]
    assert "barely moved" in findings[0].message


def test_not_converged_when_still_improving_at_the_last_epoch():
    loss = 1 / (1 + 0.05 * EPOCHS)
    findings = diagnose(history(loss, loss + 0.01), context(baselines={}))
    assert "not_converged" in kinds(findings)
    assert any("train.epochs: 200" in advice for advice in findings[0].advice)


def test_plateau_then_escape():
    loss = np.concatenate([np.linspace(1.0, 0.8, 10), np.full(25, 0.8), np.linspace(0.8, 0.2, 15),
                           np.full(50, 0.2)])
    findings = diagnose(history(loss), context(baselines={}))
    plateau = next(f for f in findings if f.kind == "plateau")
    assert 10 <= plateau.epochs[0] <= 20


def test_loss_that_decreases_then_suddenly_increases():
    loss = np.concatenate([np.linspace(1.0, 0.2, 40), np.full(60, 0.6)])
    findings = diagnose(history(loss), context(baselines={}))
    sudden = next(f for f in findings if f.kind == "sudden_increase")
    assert sudden.epochs[0] == 41


def test_non_finite_loss_is_a_problem_and_stops_further_reading():
    loss = converging()
    loss[30:] = np.nan
    findings = diagnose(history(loss), context())
    assert kinds(findings)[0] == "non_finite_loss" and findings[0].severity == "problem"
    assert findings[0].epochs[0] == 31


def test_validation_below_training_explains_its_reasons():
    loss = converging()
    findings = diagnose(history(loss, loss * 0.8), context(dropout=0.3, val_rows=40))
    below = next(f for f in findings if f.kind == "val_below_train")
    assert below.severity == "info"
    for reason in ("dropout", "average over the epoch", "40 rows"):
        assert reason in below.message


def test_noisy_validation_from_a_small_split():
    rng = np.random.default_rng(2)
    loss = converging()
    val = (loss + 0.05) * np.exp(rng.normal(0, 0.15, 100))
    findings = diagnose(history(loss, val), context(val_rows=25))
    noisy = next(f for f in findings if f.kind == "noisy_validation")
    assert "25 rows" in noisy.message


def test_exploding_gradients():
    grad = np.ones(100)
    grad[60] = 1e5
    findings = diagnose(history(converging(), grad_norm=grad), context())
    assert "exploding_gradients" in kinds(findings)


def test_vanishing_gradients():
    grad = np.logspace(0, -7, 100)
    findings = diagnose(history(converging(), grad_norm=grad), context())
    assert "vanishing_gradients" in kinds(findings)


def test_dead_relu_units():
    dead = np.linspace(0.05, 0.7, 100)
    findings = diagnose(history(converging(), dead_units=dead), context())
    dead_finding = next(f for f in findings if f.kind == "dead_relu_units")
    assert "70%" in dead_finding.title


def test_too_short_to_read():
    assert kinds(diagnose(history([1.0, 0.9]), context())) == ["too_short"]


def test_thresholds_are_arguments():
    loss = converging(floor=0.02)
    val = converging(floor=0.2) + 0.001 * np.maximum(0, EPOCHS - 40)  # a mild rise
    strict = diagnose(history(loss, val), context(), Thresholds(overfit_val_rise=0.05))
    lenient = diagnose(history(loss, val), context(), Thresholds(overfit_val_rise=0.5))
    assert "overfitting" in kinds(strict) and "overfitting" not in kinds(lenient)


def test_findings_are_plain_data():
    import json

    findings = diagnose(history(converging(), converging() + 0.02), context())
    assert json.loads(json.dumps([f.to_dict() for f in findings]))[0]["kind"] == "good_fit"


def test_a_model_predicting_almost_only_one_class_is_a_problem_whatever_its_curves():
    from trainwise.diagnostics.context import DiagnosisContext

    history = [{"epoch": e, "loss": 1 / e, "val_loss": 1 / e + 0.01} for e in range(1, 40)]
    background = DiagnosisContext(task="segmentation", classes=["background", "road"],
                                  confusion=[[900, 0], [95, 5]])
    findings = diagnose(history, background)
    one_class = [f for f in findings if f.kind == "one_class"]
    assert one_class and one_class[0].severity == "problem"
    assert one_class[0].evidence["predicted_share"] == pytest.approx(0.995)
    assert "good_fit" not in [f.kind for f in findings]
    balanced = DiagnosisContext(task="segmentation", classes=["background", "road"],
                                confusion=[[880, 20], [30, 70]])
    assert "one_class" not in [f.kind for f in diagnose(history, balanced)]
