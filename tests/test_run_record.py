"""A run directory holds everything needed to rebuild, resume, predict and report."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pandas as pd
import torch
import yaml
from safetensors.torch import load_file

import trainwise
from tests.helpers import small_config


def test_run_directory_is_complete(regression_csv, runs_dir):
    run = trainwise.fit(small_config(regression_csv, epochs=3), runs_dir=runs_dir, progress=False,
                        plots=True)
    files = {p.relative_to(run.path).as_posix() for p in run.path.rglob("*") if p.is_file()}
    assert {"config.yaml", "manifest.json", "preprocessing.json", "data_summary.json",
            "model_summary.json", "model.safetensors", "checkpoints/best.pt",
            "checkpoints/last.pt", "history.json", "history.csv", "batch_history.csv",
            "metrics.json", "status.json", "plots/loss.png", "plots/mae.png"} <= files
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["packages"]["torch"] == torch.__version__.split("+")[0] or \
        manifest["packages"]["torch"] == torch.__version__
    assert {"python", "device", "seed", "data_fingerprint", "command"} <= set(manifest)
    last = torch.load(run.path / "checkpoints/last.pt", weights_only=True)
    assert {"model", "optimizer", "scheduler", "train_state", "callbacks", "rng"} <= set(last)
    load_file(run.path / "model.safetensors")
    rows = list(csv.DictReader((run.path / "history.csv").read_text().splitlines()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"epoch", "loss", "val_loss", "mae", "val_mae", "lr", "epoch_time_s"} <= set(rows[0])
    assert yaml.safe_load((run.path / "config.yaml").read_text())["train"]["epochs"] == 3


def test_fit_leaves_the_plots_to_whoever_shows_them(regression_csv, runs_dir, invoke, tmp_path):
    run = trainwise.fit(small_config(regression_csv, epochs=3), runs_dir=runs_dir, progress=False)
    assert not list(run.path.glob("plots/*.png"))  # as Keras' and Lightning's fit draw none
    drawn = run.write_plots()
    assert {"loss.png", "mae.png"} <= {path.name for path in drawn}
    assert all(path.is_file() for path in drawn)
    # The command line draws them: its user has no other view but the dashboard.
    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump(small_config(regression_csv, epochs=3)))
    assert invoke("train", config, "--runs-dir", runs_dir, "--quiet").exit_code == 0
    newest = max((path for path in runs_dir.iterdir() if path.is_dir()), key=lambda path: path.name)
    assert (newest / "plots" / "loss.png").is_file()


def test_model_summary_counts_parameters_like_keras(regression_csv, runs_dir):
    run = trainwise.fit(small_config(regression_csv, epochs=1), runs_dir=runs_dir, progress=False)
    summary = json.loads((run.path / "model_summary.json").read_text())
    # 5 features -> 16 hidden -> 1 output: (5*16 + 16) + (16*1 + 1)
    assert summary["total_params"] == 5 * 16 + 16 + 16 + 1
    assert [layer["type"] for layer in summary["layers"]] == ["Linear", "ReLU", "Linear"]
    assert summary["layers"][0]["output_shape"] == [1, 16]


def test_load_run_predicts_and_evaluates_in_python(regression_csv, runs_dir):
    run = trainwise.fit(small_config(regression_csv, epochs=30), runs_dir=runs_dir, progress=False)
    loaded = trainwise.load_run(run.id, runs_dir=runs_dir)
    frame = pd.read_csv(regression_csv)
    predictions = loaded.predict(frame.drop(columns=["y"]))
    assert list(predictions.columns) == ["y_pred"] and len(predictions) == len(frame)
    metrics = loaded.evaluate(frame)
    assert metrics["mae"] == (predictions.y_pred - frame.y).abs().mean().__float__() or \
        abs(metrics["mae"] - (predictions.y_pred - frame.y).abs().mean()) < 1e-5
    assert metrics["r2"] > 0.8


def test_classification_predictions_carry_class_probabilities(classification_csv, runs_dir):
    config = small_config(classification_csv, target="label", task="classification", epochs=20)
    run = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    predictions = run.predict(pd.read_csv(classification_csv))
    assert list(predictions.columns) == ["label_pred", "prob_a", "prob_b", "prob_c"]
    assert predictions[["prob_a", "prob_b", "prob_c"]].sum(axis=1).round(5).eq(1).all()


def test_fine_tuning_starts_from_another_runs_weights_with_a_fresh_optimizer(regression_csv,
                                                                              runs_dir):
    source = trainwise.fit(small_config(regression_csv, epochs=30), runs_dir=runs_dir,
                           progress=False)
    tuned = trainwise.fit(small_config(regression_csv, epochs=1), {"model.init_from": str(source.path)},
                          runs_dir=runs_dir, progress=False)
    scratch = trainwise.fit(small_config(regression_csv, epochs=1), runs_dir=runs_dir,
                            progress=False)
    assert tuned.history[0]["loss"] < scratch.history[0]["loss"] / 2
    assert tuned.history[0]["lr"] == 0.01  # the new run's own optimizer settings
    assert tuned.preprocessor.to_dict() == source.preprocessor.to_dict()


def test_help_and_runs_start_without_torch_or_pandas():
    probe = ("import sys; from trainwise.cli.main import cli; "
             "assert 'torch' not in sys.modules and 'pandas' not in sys.modules, "
             "[m for m in ('torch', 'pandas') if m in sys.modules]")
    subprocess.run([sys.executable, "-c", probe], check=True)
