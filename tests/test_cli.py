"""End-to-end through the command line: train, predict, evaluate, runs, show, resume, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from trainwise.tracking import RunStore
from tests.helpers import small_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
pytestmark = pytest.mark.integration


def _only_run(runs_dir: Path) -> Path:
    runs = [p for p in runs_dir.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def test_auto_mpg_example_meets_its_target_and_repeats(invoke, runs_dir):
    first = invoke("train", EXAMPLES / "auto_mpg.yaml", "--runs-dir", runs_dir, "--quiet")
    assert first.exit_code == 0, first.output
    assert "test split" in first.output and "MAE" in first.output
    second = invoke("train", EXAMPLES / "auto_mpg.yaml", "--runs-dir", runs_dir.parent / "again", "--quiet")
    assert second.exit_code == 0, second.output
    test_mae = [json.loads((_only_run(folder) / "metrics.json").read_text())["test"]["mae"]
                for folder in (runs_dir, runs_dir.parent / "again")]
    assert test_mae[0] <= 2.0
    assert test_mae[0] == test_mae[1]


def test_classification_example_reports_per_class_metrics(invoke, runs_dir):
    result = invoke("train", EXAMPLES / "breast_cancer.yaml", "--runs-dir", runs_dir, "--quiet",
                    "train.epochs=30")
    assert result.exit_code == 0, result.output
    for text in ("accuracy", "macro-F1", "precision", "recall", "confusion matrix", "malignant"):
        assert text in result.output
    metrics = json.loads((_only_run(runs_dir) / "metrics.json").read_text())["test"]
    assert metrics["accuracy"] > 0.9
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["n"]


def test_predict_on_raw_rows_reproduces_evaluate(invoke, runs_dir, tmp_path):
    assert invoke("train", EXAMPLES / "auto_mpg.yaml", "--runs-dir", runs_dir, "--quiet",
                  "train.epochs=40").exit_code == 0
    run = _only_run(runs_dir)
    from trainwise.data.datasets import load_bundled

    labelled = load_bundled("auto_mpg").sample(120, random_state=3)  # includes missing horsepower
    labelled.to_csv(tmp_path / "cars.csv", index=False)
    labelled.drop(columns=["mpg"]).to_csv(tmp_path / "unlabelled.csv", index=False)

    result = invoke("evaluate", run.name, "--data", tmp_path / "cars.csv", "--runs-dir", runs_dir,
                    "--json")
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.output)
    result = invoke("predict", run.name, "--input", tmp_path / "unlabelled.csv", "--output",
                    tmp_path / "predictions.csv", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert len(predictions) == 120 and "car_name" in predictions.columns
    errors = (predictions["mpg_pred"].to_numpy() - labelled["mpg"].to_numpy())
    assert abs(errors).mean() == pytest.approx(evaluated["mae"], rel=1e-5)
    assert (errors ** 2).mean() ** 0.5 == pytest.approx(evaluated["rmse"], rel=1e-5)


def test_runs_and_show_describe_the_run(invoke, runs_dir, regression_csv, tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(small_config(regression_csv, epochs=3)))
    assert invoke("train", config, "--runs-dir", runs_dir, "--quiet").exit_code == 0
    run = _only_run(runs_dir)
    listing = invoke("runs", "--runs-dir", runs_dir)
    assert run.name in listing.output and "finished" in listing.output
    assert "val_loss" in listing.output and "regression" in listing.output
    shown = invoke("show", run.name, "--runs-dir", runs_dir)
    assert shown.exit_code == 0, shown.output
    text = shown.output
    # Results first, then data, model and config in brief: one screen.
    assert text.index("test split") < text.index("Data") < text.index("Model") \
        < text.index("Config")
    assert "colour: 3 values" in text and "rows: train " in text
    assert "parameters (all trainable)" in text
    assert "model.hidden: [16]" in text and "train.lr: 0.01" in text  # what differs
    assert "{'" not in text and "Units." not in text  # no raw Python dicts, no torchinfo noise
    assert len(text.splitlines()) <= 60
    everything = invoke("show", run.name, "--runs-dir", runs_dir, "--config", "--model").output
    for part in ("Linear", "Total params", "scale_target: true", "batch_size: 32"):
        assert part in everything


def test_overrides_reach_the_resolved_config(invoke, runs_dir, regression_csv, tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(small_config(regression_csv, epochs=2)))
    result = invoke("train", config, "--runs-dir", runs_dir, "--quiet", "train.lr=0.003",
                    "model.hidden=[12,6]")
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load((_only_run(runs_dir) / "config.yaml").read_text())
    assert resolved["train"]["lr"] == 0.003 and resolved["model"]["hidden"] == [12, 6]


def test_datasets_lists_the_bundled_tables(invoke):
    result = invoke("datasets")
    assert "auto_mpg" in result.output and "breast_cancer" in result.output


@pytest.mark.slow
def test_ctrl_c_saves_marks_stopped_and_resume_continues(runs_dir, regression_csv, tmp_path):
    """A real process, a real SIGINT; another process follows the run live through the store."""
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(small_config(regression_csv, epochs=100_000, batch_size=4,
                                                  early_stopping={"enabled": False})))
    command = [sys.executable, "-m", "trainwise.cli", "train", str(config), "--runs-dir",
               str(runs_dir), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        epochs_seen = _wait_for_live_epochs(runs_dir, process, at_least=3)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert epochs_seen >= 3
    assert process.returncode == 130, output
    assert "Resume with: trainwise resume" in output
    run = _only_run(runs_dir)
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "stopped" and status["signal"] == "SIGINT"
    assert (run / "checkpoints" / "last.pt").is_file()

    resumed = subprocess.run([sys.executable, "-m", "trainwise.cli", "resume", run.name,
                              "--runs-dir", str(runs_dir), "--epochs",
                              str(status["epochs"] + 2), "--quiet"],
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    history = json.loads((run / "history.json").read_text())
    assert [record["epoch"] for record in history] == list(range(1, status["epochs"] + 3))
    assert json.loads((run / "status.json").read_text())["status"] == "finished"


def _wait_for_live_epochs(runs_dir: Path, process, at_least: int, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        store_path = runs_dir / "trainwise.db"
        if store_path.exists():
            rows = RunStore(store_path).list_runs()
            if rows and len(RunStore(store_path).history(rows[0]["id"])) >= at_least:
                assert rows[0]["status"] == "running"
                return len(RunStore(store_path).history(rows[0]["id"]))
        time.sleep(0.1)
    raise AssertionError("no live epochs appeared in the run store")
