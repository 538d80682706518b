"""Class imbalance end to end: config checks, exact resume with samplers, and the run record
(balancing, class weights and where they apply, PR-AUC) in metrics, CLI table and report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import trainwise
from trainwise.config import load_config
from trainwise.errors import UserError
from trainwise.reports.html import render_report
from tests.helpers import comparable_history, small_config


@pytest.fixture
def imbalanced_csv(tmp_path):
    """400 rows, 'rare' about 13 %, separable by x1 + x2 / 2."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=400), "x2": rng.normal(size=400)})
    frame["label"] = np.where(frame.x1 + 0.5 * frame.x2 > 1.3, "rare", "common")
    path = tmp_path / "imbalanced.csv"
    frame.to_csv(path, index=False)
    return path



# ----------------------------------------------------------------- config
@pytest.mark.parametrize("overrides, fragments", [
    ({"task.loss": {"cross_entropy": 1.0, "dcie": 0.5}},
     ["task.loss", "'dcie'", "choose one of: cross_entropy, focal, dice, tversky, topk"]),
    ({"task.loss": {"cross_entropy": 1.0, "dice": 0.0}}, ["task.loss", "above 0"]),
    ({"task.tversky_beta": 0.9}, ["task.tversky_beta", "tversky", "add tversky to task.loss"]),
    ({"task.loss": "dice", "task.label_smoothing": 0.1}, ["task.label_smoothing"]),
    ({"task.loss": "focal", "task.focal_alpha": 1.5}, ["task.focal_alpha", "between 0 and 1"]),
    ({"data.balance": "smoth"}, ["data.balance", "'oversample'", "'smote'"]),
])
def test_bad_imbalance_settings_name_the_key(classification_csv, overrides, fragments):
    config = small_config(classification_csv, target="label", task="classification")
    with pytest.raises(UserError) as error:
        load_config(config, overrides)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_balancing_a_regression_is_an_error(regression_csv):
    with pytest.raises(UserError, match="data.balance 'oversample' works for classification only"):
        load_config(small_config(regression_csv), {"data.balance": "oversample"})


def test_a_single_focal_alpha_needs_two_classes_and_writes_nothing(classification_csv,
                                                                   runs_dir):
    config = small_config(classification_csv, target="label", task="classification")
    with pytest.raises(UserError, match="task.focal_alpha.*needs two classes.*one factor"):
        trainwise.fit(config, {"task.loss": "focal", "task.focal_alpha": 0.25},
                      runs_dir=runs_dir, progress=False)
    assert not runs_dir.exists() or not any(p.is_dir() for p in runs_dir.iterdir())


# ----------------------------------------------------------------- exact resume
@pytest.mark.parametrize("overrides", [
    {"data.balance": "oversample"},
    {"data.balance": "undersample"},
    {"data.balance": "smote", "task.loss": {"focal": 1.0, "dice": 0.5}},
], ids=["oversample", "undersample", "smote-focal-dice"])
def test_ten_plus_ten_equals_twenty_with_balancing(imbalanced_csv, runs_dir, overrides):
    config = small_config(imbalanced_csv, target="label", task="classification", epochs=20,
                          batch_size=16)
    straight = trainwise.fit(config, overrides, runs_dir=runs_dir, progress=False)
    first = trainwise.fit(config, {**overrides, "train.epochs": 10}, runs_dir=runs_dir,
                          progress=False)
    resumed = trainwise.resume(first.path, epochs=20, runs_dir=runs_dir, progress=False)
    assert comparable_history(resumed) == comparable_history(straight)
    assert resumed.metrics == straight.metrics


def test_undersampling_makes_short_epochs(imbalanced_csv, runs_dir):
    config = small_config(imbalanced_csv, target="label", task="classification", epochs=2,
                          batch_size=8)
    run = trainwise.fit(config, {"data.balance": "undersample"}, runs_dir=runs_dir,
                        progress=False)
    rare = run.run_dir.read_json("data_summary.json")["class_counts"]["train"]["rare"]
    steps = run.status["global_step"]
    assert steps == 2 * -(-2 * rare // 8)  # two epochs of 2 x minority rows, batches of 8


# ----------------------------------------------------------------- the record
def test_the_record_says_what_was_done_about_imbalance(imbalanced_csv, runs_dir, invoke):
    config = small_config(imbalanced_csv, target="label", task="classification")
    run = trainwise.fit(config, {"data.balance": "smote", "task.class_weights": [1.0, 3.0]},
                        runs_dir=runs_dir, progress=False)
    summary = run.run_dir.read_json("data_summary.json")
    assert summary["class_weights"] == {"values": {"common": 1.0, "rare": 3.0},
                                        "configured": [1.0, 3.0],
                                        "applied_to": "training and validation loss"}
    assert summary["balance"]["rows_added"] > 0
    test = run.metrics["test"]
    assert 0.0 <= test["pr_auc"] <= 1.0
    assert test["pr_auc"] == pytest.approx(np.mean(
        [test["per_class"][name]["average_precision"] for name in ("common", "rare")]))

    html = render_report(run.path)
    assert "Class imbalance" in html and "PR-AUC (macro average precision)" in html
    assert "Class weights: common 1, rare 3; applied to training and validation loss." in html
    assert "SMOTE added" in html and "validation and test rows are untouched" in html

    shown = invoke("show", run.path, "--runs-dir", runs_dir)
    assert shown.exit_code == 0, shown.output
    assert "PR-AUC" in shown.output and "AP" in shown.output


def test_evaluate_on_raw_rows_gives_the_same_pr_auc(imbalanced_csv, runs_dir):
    config = small_config(imbalanced_csv, target="label", task="classification")
    run = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    rows = pd.read_csv(imbalanced_csv)
    evaluated = run.evaluate(rows)
    assert set(evaluated["per_class"]["rare"]) >= {"recall", "average_precision"}
    assert evaluated["pr_auc"] == pytest.approx(np.mean(
        [evaluated["per_class"][name]["average_precision"] for name in ("common", "rare")]))


def test_a_class_absent_from_a_split_has_no_average_precision():
    from trainwise.metrics import classification_metrics

    probabilities = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    metrics = classification_metrics(np.array([0, 1]), np.array([0, 1]), ["a", "b", "c"],
                                     probabilities)
    assert metrics["per_class"]["c"]["average_precision"] is None
    assert metrics["pr_auc"] == 1.0
    json.dumps(metrics)  # None, not NaN: valid JSON


# ----------------------------------------------------------------- the example
EXAMPLE = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples" / "imbalance"


def test_the_example_data_is_what_its_script_writes(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_data", EXAMPLE / "make_data.py")
    make_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    written = tmp_path / "rare.csv"
    make_data.make_rare(0.05, 0).to_csv(written, index=False)
    assert written.read_text() == (EXAMPLE / "breast_cancer_rare.csv").read_text()


@pytest.mark.parametrize("config", sorted(EXAMPLE.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_imbalance_example_is_a_valid_config(config):
    cfg = load_config(config)
    assert cfg.task.type == "classification"
    assert config.read_text().startswith("# Class imbalance")


def test_an_imbalance_example_trains(runs_dir):
    run = trainwise.fit(EXAMPLE / "focal_weighted.yaml", {"train.epochs": 3}, runs_dir=runs_dir,
                        progress=False)
    assert run.status["status"] == "finished"
    assert "malignant" in run.metrics["test"]["per_class"]
