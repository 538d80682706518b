"""Comparing runs: differing settings, the results table, the overlaid plot, ``trainwise compare``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import yaml

from trainwise.reports import compare as compare_module
from trainwise.reports.compare import (comparison_table, differing_settings, labelled_histories,
                                       plot_comparison, run_labels)
from trainwise.tracking.run_dir import RunDirectory
from tests.helpers import small_config

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _history(epochs=3, loss=1.0, metric="mae"):
    return [{"epoch": epoch, "loss": loss / epoch, "val_loss": 1.2 * loss / epoch,
             metric: 2.0 / epoch, f"val_{metric}": 2.5 / epoch, "lr": 0.01}
            for epoch in range(1, epochs + 1)]


def _fake_run(runs_dir: Path, run_id: str, config: dict, history=None, metrics=None,
              status="finished") -> RunDirectory:
    """A run directory as fit leaves it, without training (metrics omitted when None)."""
    run = RunDirectory(runs_dir / run_id)
    run.path.mkdir(parents=True)
    run.write_text("config.yaml", yaml.safe_dump(config))
    history = _history() if history is None else history
    run.write_json("history.json", history)
    run.write_json("status.json", {"status": status, "epochs": len(history), "best_epoch": 2,
                                   "best_value": 0.5, "monitor": "val_loss", "duration_s": 1.5})
    if metrics is not None:
        run.write_json("metrics.json", metrics)
    return run


# ------------------------------------------------------------------ differing_settings
def test_differing_settings_flattens_nested_keys_and_ignores_name():
    configs = {
        "a": {"name": "first", "train": {"lr": 0.1, "early_stopping": {"patience": 5}}},
        "b": {"name": "second", "train": {"lr": 0.1, "early_stopping": {"patience": 9}}},
    }
    assert differing_settings(configs) == {"train.early_stopping.patience": {"a": 5, "b": 9}}


def test_differing_settings_compares_lists_as_values():
    configs = {"a": {"model": {"hidden": [64, 64], "kwargs": {}}},
               "b": {"model": {"hidden": [64, 64], "kwargs": {}}},
               "c": {"model": {"hidden": [32], "kwargs": {}}}}
    assert differing_settings(configs) == {"model.hidden": {"a": [64, 64], "b": [64, 64],
                                                            "c": [32]}}


def test_identical_configs_have_no_differing_settings():
    config = small_config("data.csv")
    assert differing_settings({"a": config, "b": dict(config, name="other")}) == {}


def test_a_key_one_config_lacks_differs_and_is_left_out_for_that_run():
    configs = {"a": {"train": {"grad_clip": None}}, "b": {"train": {}}}
    assert differing_settings(configs) == {"train.grad_clip": {"a": None}}


def test_run_labels_name_the_settings_and_stay_unique():
    settings = {"train.lr": {"a": 0.1, "b": 0.01, "c": 0.01}}
    assert run_labels(settings, ["a", "b", "c"]) == {
        "a": "train.lr=0.1", "b": "train.lr=0.01 (b)", "c": "train.lr=0.01 (c)"}
    assert run_labels({}, ["a", "b"]) == {"a": "a", "b": "b"}


# ------------------------------------------------------------------ comparison_table
def test_comparison_table_has_one_row_per_run_with_settings_and_results(tmp_path):
    regression = {"mae": 1.5, "rmse": 2.0, "r2": 0.9, "n": 10}
    first = _fake_run(tmp_path, "run-a", small_config("d.csv", lr=0.1),
                      metrics={"val": regression, "test": regression})
    second = _fake_run(tmp_path, "run-b", small_config("d.csv", lr=0.01), status="interrupted")

    rows = comparison_table([first, second])

    assert [row["run"] for row in rows] == ["run-a", "run-b"]
    assert rows[0]["train.lr"] == 0.1 and rows[1]["train.lr"] == 0.01
    expected = {"task": "regression", "status": "finished", "epochs": 3, "best_epoch": 2,
                "best_value": 0.5, "monitor": "val_loss", "test_mae": 1.5, "test_rmse": 2.0,
                "test_r2": 0.9, "duration_s": 1.5}
    assert {key: rows[0][key] for key in expected} == expected
    assert rows[0]["final_val_loss"] == pytest.approx(1.2 / 3)
    # An interrupted run has no metrics yet: its test columns are empty, not missing.
    assert rows[1]["status"] == "interrupted" and rows[1]["test_mae"] is None


def test_comparison_table_reports_classification_metrics(tmp_path):
    scores = {"accuracy": 0.9, "balanced_accuracy": 0.88, "macro_f1": 0.87}
    runs = [_fake_run(tmp_path, f"run-{seed}",
                      small_config("d.csv", task="classification", seed=seed),
                      history=_history(metric="accuracy"), metrics={"test": scores})
            for seed in (1, 2)]
    row = comparison_table(runs)[0]
    assert row["train.seed"] == 1
    assert (row["test_accuracy"], row["test_macro_f1"]) == (0.9, 0.87)
    assert "test_mae" not in row


# ------------------------------------------------------------------ plot_comparison
def test_plot_comparison_writes_a_png_atomically(tmp_path):
    path = plot_comparison({"train.lr=0.1": _history(), "train.lr=0.01": _history(loss=2.0),
                            "empty": []}, tmp_path / "plots" / "compare.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert [p.name for p in path.parent.iterdir()] == ["compare.png"]  # no temporary left


def test_plot_comparison_uses_a_log_scale_for_a_diverging_run(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(compare_module.plt, "close", figures.append)
    diverging = [dict(record, loss=10.0 ** record["epoch"], val_loss=float("nan"))
                 for record in _history()]
    plot_comparison({"stable": _history(), "diverging": diverging}, tmp_path / "c.png")
    loss_axis, metric_axis = figures[0].axes
    plt.close(figures[0])
    assert loss_axis.get_yscale() == "log" and metric_axis.get_yscale() == "linear"
    assert [text.get_text() for text in figures[0].legends[0].get_texts()] == [
        "stable", "diverging", "training", "validation"]


def test_labelled_histories_use_the_differing_settings(tmp_path):
    runs = [_fake_run(tmp_path, f"run-{lr}", small_config("d.csv", lr=lr)) for lr in (0.1, 0.01)]
    assert list(labelled_histories(runs)) == ["train.lr=0.1", "train.lr=0.01"]


# ------------------------------------------------------------------ trainwise compare
def _write_config(path: Path, source, **settings) -> Path:
    path.write_text(yaml.safe_dump(small_config(source, **settings)))
    return path


@pytest.mark.integration
def test_compare_trains_configs_and_plots_them(invoke, runs_dir, regression_csv, tmp_path):
    configs = [_write_config(tmp_path / f"lr_{name}.yaml", regression_csv, epochs=2, lr=lr)
               for name, lr in (("fast", 0.01), ("slow", 0.001))]

    result = invoke("compare", *configs, "--runs-dir", runs_dir)

    assert result.exit_code == 0, result.output
    assert result.output.count("trained ") == 2
    assert "train.lr" in result.output and "0.01" in result.output and "0.001" in result.output
    assert "test MAE" in result.output
    runs = [p for p in runs_dir.iterdir() if (p / "config.yaml").is_file()]
    assert len(runs) == 2
    plots = list(runs_dir.glob("compare-*.png"))
    assert len(plots) == 1 and plots[0].read_bytes().startswith(PNG_SIGNATURE)
    assert f"Plot: {plots[0]}" in result.output


@pytest.mark.integration
def test_compare_existing_runs_by_id(invoke, runs_dir, regression_csv, tmp_path):
    config = _write_config(tmp_path / "cfg.yaml", regression_csv, epochs=2)
    for lr in ("0.01", "0.003"):
        assert invoke("train", config, f"train.lr={lr}", "--runs-dir", runs_dir,
                      "--quiet").exit_code == 0
    first, second = sorted(p.name for p in runs_dir.iterdir() if p.is_dir())
    output = tmp_path / "lr.png"

    result = invoke("compare", first, second, "--runs-dir", runs_dir, "--output", output)

    assert result.exit_code == 0, result.output
    assert "trained " not in result.output  # nothing was trained
    assert first in result.output and second in result.output
    assert "train.lr=0.003" in result.output
    assert output.read_bytes().startswith(PNG_SIGNATURE)
    metrics = json.loads((runs_dir / first / "metrics.json").read_text())["test"]
    assert f"{metrics['mae']:.4g}" in result.output


@pytest.mark.integration
def test_compare_notes_runs_of_different_tasks(invoke, runs_dir, regression_csv,
                                               classification_csv, tmp_path):
    configs = [_write_config(tmp_path / "reg.yaml", regression_csv, epochs=2),
               _write_config(tmp_path / "cls.yaml", classification_csv, target="label",
                             task="classification", epochs=2)]
    result = invoke("compare", *configs, "--runs-dir", runs_dir, "--quiet",
                    "--output", tmp_path / "mixed.png")
    assert result.exit_code == 0, result.output
    assert "trained " not in result.output
    assert "different tasks (regression, classification)" in result.output
    assert "test MAE" in result.output and "test accuracy" in result.output


@pytest.mark.integration
def test_compare_needs_two_runs(invoke, runs_dir, regression_csv, tmp_path):
    config = _write_config(tmp_path / "cfg.yaml", regression_csv, epochs=2)
    result = invoke("compare", config, "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert "at least two runs or configs" in result.output
    assert "trainwise compare RUN last" in result.output
    assert not runs_dir.exists()  # refused before training anything


@pytest.mark.integration
def test_compare_checks_every_argument_before_training(invoke, runs_dir, regression_csv,
                                                       tmp_path):
    config = _write_config(tmp_path / "cfg.yaml", regression_csv, epochs=2)
    result = invoke("compare", config, "no-such-run", "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert "run 'no-such-run' is not a run directory or run id" in result.output
    assert not runs_dir.exists()


@pytest.mark.integration
def test_compare_reports_a_mistyped_config_path(invoke, runs_dir, tmp_path):
    result = invoke("compare", tmp_path / "typo.yaml", "last", "--runs-dir", runs_dir)
    assert result.exit_code == 2
    assert "typo.yaml' does not exist" in result.output


def test_the_report_module_never_loads_the_training_code():
    code = ("import sys, trainwise.reports.compare; "
            "print(sorted(m for m in sys.modules if m.startswith("
            "('torch', 'trainwise.training', 'trainwise.session'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"
