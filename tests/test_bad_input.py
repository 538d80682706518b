"""Bad input through the CLI: exit code 2, a message naming the culprit and the fix, no
traceback, and nothing half-written in the runs folder."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import small_config

USER_ERROR = 2


# ----------------------------------------------------------------------------- helpers
def write_config(tmp_path: Path, source, filename: str = "config.yaml", **sections) -> Path:
    """A tiny config (2 epochs, hidden [8]) as YAML; ``sections`` update its sections."""
    cfg = small_config(source, epochs=2)
    cfg["model"]["hidden"] = [8]
    for section, values in sections.items():
        if isinstance(values, dict):
            cfg.setdefault(section, {}).update(values)
        else:
            cfg[section] = values
    path = tmp_path / filename
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_dirs(runs_dir: Path) -> list[Path]:
    return sorted(p for p in runs_dir.glob("*") if p.is_dir()) if runs_dir.exists() else []


def assert_user_error(result, *fragments: str) -> str:
    """Exit code 2, 'Error: ...' with every fragment, and no traceback; returns the output."""
    output = result.output
    assert result.exit_code == USER_ERROR, output
    assert "Error:" in output, output
    assert "Traceback" not in output, output
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in:\n{output}"
    return output


def assert_no_run(runs_dir: Path) -> None:
    assert run_dirs(runs_dir) == [], f"a run folder was left behind: {run_dirs(runs_dir)}"


def train_tiny(invoke, tmp_path, runs_dir, source, hidden=(8,), target="y",
               task="regression", name="tiny") -> Path:
    """Train a finished 2-epoch run and return its directory."""
    config = write_config(tmp_path, source, filename=f"{name}.yaml",
                          model={"hidden": list(hidden)}, name=name,
                          data={"source": str(source), "target": target},
                          task={"type": task})
    before = set(run_dirs(runs_dir))
    result = invoke("train", config, "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 0, result.output
    (new,) = set(run_dirs(runs_dir)) - before
    return new


def snapshot(run: Path) -> dict[str, str]:
    """Content hash of every file in a run folder (the store lives outside it)."""
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------- 1. missing files
def test_missing_config_file(invoke, tmp_path, runs_dir):
    missing = tmp_path / "nope.yaml"
    result = invoke("train", missing, "--runs-dir", runs_dir)
    assert_user_error(result, "config file", "nope.yaml", "does not exist", "check the path")
    assert_no_run(runs_dir)


def test_missing_data_file(invoke, tmp_path, runs_dir):
    config = write_config(tmp_path, tmp_path / "absent.csv")
    result = invoke("train", config, "--runs-dir", runs_dir)
    assert_user_error(result, "data.source", "absent.csv", "does not exist", "check the path")
    assert_no_run(runs_dir)


# ------------------------------------------------------------- 2. unknown bundled dataset
def test_unknown_bundled_dataset(invoke, tmp_path, runs_dir):
    config = write_config(tmp_path, "auto_mgp", data={"target": "mpg"})
    result = invoke("train", config, "--runs-dir", runs_dir)
    assert_user_error(result, "data.source", "'auto_mgp'", "bundled datasets are",
                      "auto_mpg", "iris", "trainwise datasets")
    assert_no_run(runs_dir)


# ------------------------------------------------------------------ 3. target not a column
def test_target_column_absent(invoke, tmp_path, runs_dir, regression_csv):
    config = write_config(tmp_path, regression_csv, data={"target": "yy"})
    result = invoke("train", config, "--runs-dir", runs_dir)
    assert_user_error(result, "data.target", "'yy'", "not found", "regression.csv",
                      "its columns are: x1, x2, colour, y", "Fix the name")
    assert_no_run(runs_dir)


# ------------------------------------------------------------------ 4. target with gaps
@pytest.fixture
def target_gaps_csv(tmp_path, regression_csv):
    frame = pd.read_csv(regression_csv)
    frame.loc[[5, 17, 200, 201], "y"] = np.nan
    path = tmp_path / "target_gaps.csv"
    frame.to_csv(path, index=False)
    return path


def test_target_missing_values(invoke, tmp_path, runs_dir, target_gaps_csv):
    config = write_config(tmp_path, target_gaps_csv)
    result = invoke("train", config, "--runs-dir", runs_dir)
    assert_user_error(result, "target column 'y'", "empty in 4 rows", "target_gaps.csv",
                      "data.target_missing: drop")
    assert_no_run(runs_dir)


def test_target_missing_drop_trains_and_reports(invoke, tmp_path, runs_dir, target_gaps_csv):
    config = write_config(tmp_path, target_gaps_csv)
    result = invoke("train", config, "data.target_missing=drop", "--runs-dir", runs_dir,
                    "--quiet")
    assert result.exit_code == 0, result.output
    (run,) = run_dirs(runs_dir)
    summary = json.loads((run / "data_summary.json").read_text())
    assert summary["rows_read"] == 300
    assert summary["dropped"]["target_missing"] == 4
    assert sum(summary["rows"].values()) == 296


# ---------------------------------------------------------------- 5. text in numeric column
def test_text_in_numeric_column(invoke, tmp_path, runs_dir, regression_csv):
    frame = pd.read_csv(regression_csv).astype({"x1": object})
    frame.loc[7, "x1"] = "abc"
    path = tmp_path / "stray_text.csv"
    frame.to_csv(path, index=False)
    config = write_config(tmp_path, path)
    result = invoke("train", config, "--runs-dir", runs_dir)
    assert_user_error(result, "stray_text.csv", "column 'x1'", "should be numeric", "'abc'",
                      "rows 7", "data.na_values", "data.categorical")
    assert_no_run(runs_dir)


# ------------------------------------------------------------ 6. class too small to stratify
def test_class_too_small_for_stratified_split(invoke, tmp_path, runs_dir, classification_csv):
    frame = pd.read_csv(classification_csv)
    frame.loc[0, "label"] = "lonely"
    path = tmp_path / "lonely.csv"
    frame.to_csv(path, index=False)
    config = write_config(tmp_path, path, data={"target": "label"},
                          task={"type": "classification"})
    result = invoke("train", config, "--runs-dir", runs_dir)
    assert_user_error(result, "data.target 'label'", "'lonely' (1 row)", "stratified",
                      "data.split.stratify: false")
    assert_no_run(runs_dir)


# ------------------------------------------------------- 7. nothing left after dropping rows
def test_no_rows_left_after_dropping_missing(invoke, tmp_path, runs_dir, regression_csv):
    frame = pd.read_csv(regression_csv)
    frame.loc[frame.index % 2 == 0, "x1"] = np.nan
    frame.loc[frame.index % 2 == 1, "x2"] = np.nan
    path = tmp_path / "holes.csv"
    frame.to_csv(path, index=False)
    config = write_config(tmp_path, path)
    result = invoke("train", config, "data.missing=drop", "--runs-dir", runs_dir)
    assert_user_error(result, "holes.csv", "no rows are left", "data.missing: impute")
    assert_no_run(runs_dir)


# ------------------------------------------------------------------- 8. invalid values
@pytest.mark.parametrize("overrides, fragments", [
    (["train.lr=-1"], ["train.lr", "greater than 0", "-1"]),
    (["model.hidden=[0]"], ["model.hidden", "at least 1", "[0]", "remove or raise"]),
    (["data.split.val=0.5", "data.split.test=0.5"],
     ["data.split", "val (0.5) + test (0.5)", "below 1", "lower one of them"]),
], ids=["negative-lr", "zero-hidden", "val-plus-test"])
def test_invalid_values(invoke, tmp_path, runs_dir, regression_csv, overrides, fragments):
    config = write_config(tmp_path, regression_csv)
    result = invoke("train", config, *overrides, "--runs-dir", runs_dir)
    assert_user_error(result, str(config), "not a valid trainwise config", *fragments,
                      "Fix these keys")
    assert_no_run(runs_dir)


# --------------------------------------------------- 9. unknown names and misspelt keys
@pytest.mark.parametrize("override, fragments", [
    ("model.activation=relux", ["model.activation", "unknown activation 'relux'",
                                "choose one of: relu, leaky_relu, elu, gelu, tanh"]),
    ("train.optimizer=adamm", ["train.optimizer", "unknown optimizer 'adamm'",
                               "choose one of: sgd, adam, adamw, rmsprop, adagrad"]),
    ("task.loss=rmse", ["task.loss", "'rmse'", "regression", "choose one of: mse, mae, huber"]),
    ("train.lrr=0.1", ["train.lrr", "unknown key", "did you mean 'lr'?"]),
], ids=["activation", "optimizer", "loss", "misspelt-key"])
def test_unknown_names(invoke, tmp_path, runs_dir, regression_csv, override, fragments):
    config = write_config(tmp_path, regression_csv)
    result = invoke("train", config, override, "--runs-dir", runs_dir)
    assert_user_error(result, *fragments)
    assert_no_run(runs_dir)


def test_unknown_classification_loss(invoke, tmp_path, runs_dir, classification_csv):
    config = write_config(tmp_path, classification_csv, data={"target": "label"},
                          task={"type": "classification", "loss": "mse"})
    result = invoke("train", config, "--runs-dir", runs_dir)
    assert_user_error(result, "task.loss", "'mse'", "classification",
                      "choose one of: cross_entropy")
    assert_no_run(runs_dir)


# --------------------------------------------------- 10. weights of a differently shaped model
def test_init_from_differently_shaped_run(invoke, tmp_path, runs_dir, regression_csv):
    source = train_tiny(invoke, tmp_path, runs_dir, regression_csv, hidden=[8])
    before = snapshot(source)
    config = write_config(tmp_path, regression_csv)
    result = invoke("train", config, f"model.init_from={source}", "model.hidden=[16]",
                    "--runs-dir", runs_dir)
    assert_user_error(result, "model.init_from", "differently shaped model", "shape differs",
                      "(8, 5) vs (16, 5)", "model.hidden")
    assert run_dirs(runs_dir) == [source]
    assert snapshot(source) == before


def test_resume_with_checkpoint_of_other_shape(invoke, tmp_path, runs_dir, regression_csv):
    run = train_tiny(invoke, tmp_path, runs_dir, regression_csv, hidden=[8], name="small")
    other = train_tiny(invoke, tmp_path, runs_dir, regression_csv, hidden=[16], name="wide")
    last = run / "checkpoints" / "last.pt"
    shutil.copyfile(other / "checkpoints" / "last.pt", last)
    before = snapshot(run)
    result = invoke("resume", run, "--epochs", 4, "--runs-dir", runs_dir)
    assert_user_error(result, "last.pt", "differently shaped model", "shape differs",
                      "(16, 5) vs (8, 5)")
    assert snapshot(run) == before
    assert json.loads((run / "status.json").read_text())["status"] == "finished"


def test_resume_from_a_weights_only_checkpoint(invoke, tmp_path, runs_dir, regression_csv):
    run = train_tiny(invoke, tmp_path, runs_dir, regression_csv)
    shutil.copyfile(run / "checkpoints" / "best.pt", run / "checkpoints" / "last.pt")
    before = snapshot(run)
    result = invoke("resume", run, "--epochs", 4, "--runs-dir", runs_dir)
    assert_user_error(result, "last.pt", "not a resumable trainwise checkpoint", "optimizer",
                      "model.init_from")
    assert snapshot(run) == before


# ------------------------------------------------------------ 11. corrupt or truncated checkpoint
@pytest.mark.parametrize("damage", ["truncated", "empty", "random-bytes", "text"])
def test_resume_with_damaged_checkpoint(invoke, tmp_path, runs_dir, regression_csv, damage):
    run = train_tiny(invoke, tmp_path, runs_dir, regression_csv)
    last = run / "checkpoints" / "last.pt"
    content = last.read_bytes()
    damaged = {
        "truncated": content[: len(content) // 2],
        "empty": b"",
        "random-bytes": np.random.default_rng(0).bytes(len(content)),
        # The weights-only unpickler raises KeyError on this one, not UnpicklingError.
        "text": b"hello this is not a checkpoint\n" * 10,
    }[damage]
    last.write_bytes(damaged)
    before = snapshot(run)
    result = invoke("resume", run, "--epochs", 10, "--runs-dir", runs_dir)
    output = assert_user_error(result, "checkpoint", "last.pt", "corrupt or truncated",
                               "No earlier good checkpoint is left", "Remove",
                               "again from epoch 0")
    assert "weights_only" not in output  # torch's advice to load unsafely is not passed on
    assert snapshot(run) == before
    assert run_dirs(runs_dir) == [run]


# ------------------------------------------------------------------ 12. bad predict input
@pytest.fixture
def finished_run(invoke, tmp_path, runs_dir, regression_csv):
    return train_tiny(invoke, tmp_path, runs_dir, regression_csv)


def test_predict_input_missing_column(invoke, tmp_path, runs_dir, regression_csv,
                                      finished_run):
    path = tmp_path / "no_x2.csv"
    pd.read_csv(regression_csv).drop(columns=["x2", "y"]).to_csv(path, index=False)
    output = tmp_path / "predictions.csv"
    result = invoke("predict", finished_run, "--input", path, "--output", output,
                    "--runs-dir", runs_dir)
    assert_user_error(result, "--input", "no_x2.csv", "lacks the training column(s) x2",
                      "the model needs: x1, x2, colour", "Add them")
    assert not output.exists()


def test_predict_input_text_in_numeric_column(invoke, tmp_path, runs_dir, regression_csv,
                                              finished_run):
    frame = pd.read_csv(regression_csv).drop(columns=["y"]).astype({"x2": object})
    frame.loc[11, "x2"] = "n/a?"
    path = tmp_path / "stray.csv"
    frame.to_csv(path, index=False)
    output = tmp_path / "predictions.csv"
    result = invoke("predict", finished_run, "--input", path, "--output", output,
                    "--runs-dir", runs_dir)
    assert_user_error(result, "--input", "stray.csv", "column 'x2'", "should be numeric",
                      "'n/a?'", "rows 11", "Fix those cells")
    assert not output.exists()
