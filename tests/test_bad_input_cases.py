"""More bad input, each a clear UserError (exit code 2, no traceback) before any run folder or
store row exists: empty, infinite or duplicated columns, one-class targets, non-finite
settings, malformed overrides and files; at predict time infinite inputs and unseen
categories; small splits warn; the dashboard answers non-finite numbers with 422."""

from __future__ import annotations

import json
import warnings

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

import trainwise
from tests.helpers import small_config
from tests.test_bad_input import (assert_no_run, assert_user_error, run_dirs, train_tiny,
                                  write_config)
from trainwise.config.load import load_config, parse_overrides
from trainwise.data.prepare import MIN_RELIABLE_SPLIT_ROWS
from trainwise.data.read import read_table
from trainwise.errors import UnseenCategoryWarning, UserError
from trainwise.run import load_run
from trainwise.tracking.store import RunStore


def assert_nothing_recorded(runs_dir) -> None:
    """No run folder, and no row in the run store (when it exists at all)."""
    assert_no_run(runs_dir)
    store = runs_dir / "trainwise.db"
    if store.exists():
        assert RunStore(store).list_runs() == []


def table(tmp_path, regression_csv, name: str, change) -> str:
    """conftest's regression table, changed by ``change(frame)``, written as ``name``."""
    frame = pd.read_csv(regression_csv)
    change(frame)
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


# ------------------------------------------------------------ 1. a column with no values
def test_entirely_empty_feature_column(invoke, tmp_path, runs_dir, regression_csv):
    path = table(tmp_path, regression_csv, "empty_column.csv",
                 lambda frame: frame.insert(1, "notes", np.nan))
    result = invoke("train", write_config(tmp_path, path), "--runs-dir", runs_dir)
    assert_user_error(result, "empty_column.csv", "'notes'", "empty (missing) in all 300 rows",
                      "add it to data.drop (data.drop: [notes])")
    assert_nothing_recorded(runs_dir)


def test_empty_column_listed_in_features_says_to_unlist_it(invoke, tmp_path, runs_dir,
                                                           regression_csv):
    path = table(tmp_path, regression_csv, "empty_listed.csv",
                 lambda frame: frame.insert(1, "notes", np.nan))
    config = write_config(tmp_path, path, data={"features": ["x1", "notes"]})
    result = invoke("train", config, "--runs-dir", runs_dir)
    assert_user_error(result, "'notes'", "take it out of data.features")
    assert_nothing_recorded(runs_dir)


# ------------------------------------------------------------------- 2. infinite values
@pytest.mark.parametrize("column, fix", [("x1", "data.missing"),
                                         ("y", "data.target_missing: drop")],
                         ids=["feature", "target"])
def test_infinite_values_name_column_and_rows(invoke, tmp_path, runs_dir, regression_csv,
                                              column, fix):
    def poison(frame):
        frame.loc[[4, 9], column] = np.inf
        frame.loc[21, column] = -np.inf

    path = table(tmp_path, regression_csv, "infinite.csv", poison)
    result = invoke("train", write_config(tmp_path, path), "--runs-dir", runs_dir)
    assert_user_error(result, "infinite.csv", f"column '{column}'", "infinite values",
                      "rows 4, 9, 21, counted from 0 below the header", "3 in all", fix)
    assert_nothing_recorded(runs_dir)


# ---------------------------------------------------------------- 3. a single class
def test_classification_target_with_one_class(invoke, tmp_path, runs_dir, classification_csv):
    frame = pd.read_csv(classification_csv).assign(label="a")
    path = tmp_path / "one_class.csv"
    frame.to_csv(path, index=False)
    config = write_config(tmp_path, path, data={"target": "label"},
                          task={"type": "classification"})
    result = invoke("train", config, "--runs-dir", runs_dir)
    assert_user_error(result, "data.target", "'label'", "one_class.csv", "single class",
                      "'a' (all 300 rows)", "at least two")
    assert_nothing_recorded(runs_dir)


# --------------------------------------------------------- 4. NaN or infinite settings
@pytest.mark.parametrize("override, key", [
    ("train.lr=.nan", "train.lr"),
    ("train.lr=.inf", "train.lr"),
    ("train.lr=-.inf", "train.lr"),
    ("train.weight_decay=.nan", "train.weight_decay"),
    ("model.dropout=.nan", "model.dropout"),
    ("train.grad_clip=.inf", "train.grad_clip"),
    ("train.betas=[.nan,0.999]", "train.betas.0"),
    ("task.huber_delta=1e999", "task.huber_delta"),
    ("train.epochs=.inf", "train.epochs"),
    ("data.streaming.max_memory_mb=.inf", "data.streaming.max_memory_mb"),
    ("train.scheduler.gamma=.nan", "train.scheduler.gamma"),
])
def test_non_finite_settings_are_refused(invoke, tmp_path, runs_dir, regression_csv,
                                         override, key):
    result = invoke("train", write_config(tmp_path, regression_csv), override,
                    "--runs-dir", runs_dir)
    output = assert_user_error(result, "not a valid trainwise config",
                               f"{key}: must be a finite number", "NaN and infinity")
    assert ".float" not in output and "literal" not in output  # no pydantic union noise
    assert_nothing_recorded(runs_dir)


def test_every_float_setting_refuses_nan():
    """The rule is the schema's, not a list: every float field, in every section."""
    from trainwise.config.schema import Config

    def float_fields(model, prefix=""):
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                yield from float_fields(annotation, f"{prefix}{name}.")
            elif annotation in (float, float | None):
                yield f"{prefix}{name}"

    keys = list(float_fields(Config))
    assert "train.weight_decay" in keys and "data.streaming.max_memory_mb" in keys
    base = {"data": {"source": "auto_mpg", "target": "mpg"}}
    for key in keys:
        with pytest.raises(UserError, match=rf"{key}: must be a finite number"):
            load_config(base, {key: float("nan")})


def test_lr_auto_is_still_accepted():
    cfg = load_config({"data": {"source": "auto_mpg", "target": "mpg"}}, ["train.lr=auto"])
    assert cfg.train.lr == "auto"
    with pytest.raises(UserError, match=r"train.lr: must be a finite number or 'auto'"):
        load_config({"data": {"source": "auto_mpg", "target": "mpg"}}, ["train.lr=.nan"])


# ------------------------------------------------------------ 5. duplicated header names
def test_duplicated_column_names(invoke, tmp_path, runs_dir):
    path = tmp_path / "twice.csv"
    rows = "\n".join(f"{i},{i * 2},{i % 3},{i * 0.5}" for i in range(30))
    path.write_text("a,a,b,y\n" + rows + "\n")
    result = invoke("train", write_config(tmp_path, path), "--runs-dir", runs_dir)
    assert_user_error(result, "data.source", "twice.csv", "'a' (2 times)", "more than once",
                      "its own name")
    assert_nothing_recorded(runs_dir)


def test_a_column_really_named_like_a_renamed_duplicate_is_fine(tmp_path):
    path = tmp_path / "dotted.csv"
    path.write_text("a,a.1,y\n1,2,3\n")
    assert list(read_table(str(path)).columns) == ["a", "a.1", "y"]


# ------------------------------------------------------------ 6. malformed overrides
def test_malformed_override(invoke, tmp_path, runs_dir, regression_csv):
    result = invoke("train", write_config(tmp_path, regression_csv), "train.lr=[1,2",
                    "--runs-dir", runs_dir)
    assert_user_error(result, "override 'train.lr=[1,2'", "not valid YAML",
                      "'train.lr=\"[1,2\"'", "quote")
    assert_nothing_recorded(runs_dir)


@pytest.mark.parametrize("item, fragment", [
    ("model.hidden={a: [1", "not valid YAML"),
    ("train.seed=2024-02-30", "not valid YAML"),  # scans as a date, then fails
    ("train..lr=1", "empty part"),
    ("=1", "key=value"),
])
def test_parse_overrides_raises_user_errors(item, fragment):
    with pytest.raises(UserError, match=fragment):
        parse_overrides([item])


def test_config_file_that_is_not_a_mapping_says_what_it_is(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- data\n- train\n")
    with pytest.raises(UserError) as err:
        load_config(path)
    assert "not a list" in str(err.value) and "type(raw)" not in str(err.value)


# ------------------------------------------------------------ 7. infinite predict input
@pytest.fixture
def finished_run(invoke, tmp_path, runs_dir, regression_csv):
    return train_tiny(invoke, tmp_path, runs_dir, regression_csv)


def test_predict_with_infinite_input(invoke, tmp_path, runs_dir, regression_csv, finished_run):
    frame = pd.read_csv(regression_csv).drop(columns=["y"])
    frame.loc[[2, 40], "x2"] = [np.inf, -np.inf]
    path = tmp_path / "inf_input.csv"
    frame.to_csv(path, index=False)
    output = tmp_path / "predictions.csv"
    result = invoke("predict", finished_run, "--input", path, "--output", output,
                    "--runs-dir", runs_dir)
    assert_user_error(result, "--input", "inf_input.csv", "column 'x2'", "infinite values",
                      "rows 2, 40, counted from 0 below the header", "finite numbers")
    assert not output.exists()


def test_python_predict_and_evaluate_refuse_infinity_but_impute_nan(regression_csv,
                                                                    finished_run):
    run = load_run(finished_run)
    frame = pd.read_csv(regression_csv).head(20)
    gaps = frame.assign(x1=np.nan)
    assert run.predict(gaps)["y_pred"].notna().all()  # NaN is imputed, as in training
    with pytest.raises(UserError, match=r"column 'x1' holds infinite values.*rows 3"):
        run.predict(frame.assign(x1=frame.x1.where(frame.index != 3, np.inf)))
    bad_target = frame.assign(y=frame.y.where(frame.index != 5, -np.inf))
    with pytest.raises(UserError, match=r"column 'y'.*rows 5.*remove those rows"):
        run.evaluate(bad_target, "labelled.csv")


# ------------------------------------------------------------ 8. unseen categories
def _with_purple(regression_csv, tmp_path):
    frame = pd.read_csv(regression_csv).drop(columns=["y"]).head(30)
    frame.loc[[1, 7], "colour"] = "purple"
    frame.loc[12, "colour"] = "teal"
    path = tmp_path / "new_colours.csv"
    frame.to_csv(path, index=False)
    return frame, path


def test_unseen_categories_warn_at_predict(tmp_path, regression_csv, finished_run):
    frame, _ = _with_purple(regression_csv, tmp_path)
    with pytest.warns(UnseenCategoryWarning) as caught:
        predictions = load_run(finished_run).predict(frame, "new.csv")
    assert len(predictions) == 30
    (message,) = [str(w.message) for w in caught]
    for fragment in ("new.csv", "column 'colour'", "'purple', 'teal'", "in 3 rows",
                     "rows 1, 7, 12", "data.unseen_categories: error"):
        assert fragment in message, message


def test_known_categories_do_not_warn(regression_csv, finished_run):
    frame = pd.read_csv(regression_csv).head(30)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenCategoryWarning)
        load_run(finished_run).predict(frame)


def test_unseen_categories_cli_prints_the_warning(invoke, tmp_path, runs_dir, regression_csv,
                                                  finished_run):
    _, path = _with_purple(regression_csv, tmp_path)
    output = tmp_path / "predictions.csv"
    result = invoke("predict", finished_run, "--input", path, "--output", output,
                    "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    assert "Warning:" in result.output and "'purple', 'teal'" in result.output
    assert "Traceback" not in result.output and output.exists()


def test_unseen_categories_error_when_asked(invoke, tmp_path, runs_dir, regression_csv):
    config = write_config(tmp_path, regression_csv, filename="strict.yaml",
                          data={"unseen_categories": "error"})
    assert invoke("train", config, "--runs-dir", runs_dir, "--quiet").exit_code == 0
    (run,) = run_dirs(runs_dir)
    _, path = _with_purple(regression_csv, tmp_path)
    output = tmp_path / "predictions.csv"
    result = invoke("predict", run, "--input", path, "--output", output, "--runs-dir", runs_dir)
    assert_user_error(result, "column 'colour'", "'purple', 'teal'", "in 3 rows",
                      "data.unseen_categories is 'error'", "--unseen-categories warn")
    assert not output.exists()
    # The option overrides the run's setting, both ways.
    allowed = invoke("predict", run, "--input", path, "--output", output, "--runs-dir",
                     runs_dir, "--unseen-categories", "warn")
    assert allowed.exit_code == 0 and "Warning:" in allowed.output


def test_evaluate_warns_about_unseen_categories(invoke, tmp_path, runs_dir, regression_csv,
                                                finished_run):
    frame = pd.read_csv(regression_csv).head(30)
    frame.loc[4, "colour"] = "purple"
    path = tmp_path / "labelled.csv"
    frame.to_csv(path, index=False)
    result = invoke("evaluate", finished_run, "--data", path, "--json", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    assert "'purple'" in result.stderr and "in 1 row " in result.stderr
    assert "r2" in json.loads(result.stdout)  # stdout stays pure JSON


def test_unseen_categories_config_key_is_checked():
    with pytest.raises(UserError, match="data.unseen_categories"):
        load_config({"data": {"source": "auto_mpg", "target": "mpg",
                              "unseen_categories": "ignore"}})


# ------------------------------------------------------------------ 9. tiny splits
def test_tiny_validation_and_test_splits_warn(invoke, tmp_path, runs_dir):
    path = tmp_path / "three.csv"
    path.write_text("x,y\n1,2\n2,4\n3,7\n")
    result = invoke("train", write_config(tmp_path, path), "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 0, result.output
    (run,) = run_dirs(runs_dir)
    summary = json.loads((run / "data_summary.json").read_text())
    assert summary["rows"] == {"train": 1, "val": 1, "test": 1}
    val, test = summary["warnings"]
    assert "validation split has only 1 row" in val and "R² is undefined" in val
    assert "test split has only 1 row" in test and "data.split.test" in test
    assert f"fewer than {MIN_RELIABLE_SPLIT_ROWS}" in val
    assert "WARNING" in result.output and "validation split has only 1 row" in result.output


def test_large_enough_splits_do_not_warn(regression_csv, runs_dir):
    run = trainwise.fit(small_config(regression_csv, epochs=1), runs_dir=runs_dir,
                        progress=False)
    summary = run.run_dir.read_json("data_summary.json")
    assert min(summary["rows"].values()) >= MIN_RELIABLE_SPLIT_ROWS
    assert not any("split has only" in text for text in summary.get("warnings", []))


# ------------------------------------------------------------ 10. a header and no rows
def test_header_only_csv(invoke, tmp_path, runs_dir):
    path = tmp_path / "header_only.csv"
    path.write_text("x1,x2,y\n")
    result = invoke("train", write_config(tmp_path, path), "--runs-dir", runs_dir)
    output = assert_user_error(result, "header_only.csv", "has a header and no data rows",
                               "x1, x2, y")
    assert "dropping missing values" not in output
    assert_nothing_recorded(runs_dir)


def test_header_only_validation_file(invoke, tmp_path, runs_dir, regression_csv):
    val = tmp_path / "val_header.csv"
    val.write_text("x1,x2,colour,y\n")
    config = write_config(tmp_path, regression_csv, data={
        "source": str(regression_csv), "target": "y",
        "split": {"method": "files", "val_file": str(val)}})
    result = invoke("train", config, "--runs-dir", runs_dir)
    assert_user_error(result, "data.split.val_file", "val_header.csv",
                      "has a header and no data rows")
    assert_nothing_recorded(runs_dir)


# ------------------------------------------------------------ 12. malformed CSV files
@pytest.mark.parametrize("name, text, fragment", [
    ("ragged.csv", "x1,x2,y\n1,2,3\n4,5,6,7\n", "Expected 3 fields"),
    ("quotes.csv", 'x1,x2,y\n1,"2,3\n4,5,6\n', "EOF inside string"),
    ("ragged.txt", "x1,x2,y\n1,2,3\n4,5,6,7\n", "Expected 3 fields"),
])
def test_malformed_csv_is_called_csv(invoke, tmp_path, runs_dir, name, text, fragment):
    path = tmp_path / name
    path.write_text(text)
    result = invoke("train", write_config(tmp_path, path), "--runs-dir", runs_dir)
    output = assert_user_error(result, "data.source", name, "as a CSV table", fragment,
                               "same number of fields")
    assert "Parquet" not in output
    assert_nothing_recorded(runs_dir)


def test_broken_parquet_is_called_parquet(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(UserError, match="as a Parquet table"):
        read_table(str(path))


def test_parquet_content_under_another_suffix_is_read_as_parquet(tmp_path):
    path = tmp_path / "table.dat"
    pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]}).to_parquet(path)
    assert read_table(str(path)).shape == (2, 2)


def test_tsv_is_read_tab_separated(tmp_path):
    path = tmp_path / "table.tsv"
    path.write_text("x\ty\n1\t2\n")
    assert list(read_table(str(path)).columns) == ["x", "y"]


# ------------------------------------------------------------ 13. dashboard: 1e999
@pytest.mark.parametrize("body", [
    '{"config": "classes.yaml", "lr": 1e999}',
    '{"config": "classes.yaml", "epochs": 1e999}',
    '{"config": "classes.yaml", "batch_size": -1e999}',
    '{"config": "classes.yaml", "validation": {"mode": "random", "fraction": NaN}}',
], ids=["lr", "epochs", "batch-size", "fraction-nan"])
def test_dashboard_answers_non_finite_numbers_with_422(server, body):
    answer = httpx.post(f"{server.url}/api/runs", content=body,
                        headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["detail"]
    assert problem["type"] == "finite_number" and "must be a finite number" in problem["msg"]
    assert problem["input"] in ("inf", "-inf", "nan")
    assert server.settings.state_dir.exists() is False  # nothing was launched


def test_dashboard_refuses_a_config_with_a_non_finite_value(workspace, server):
    cfg = small_config("classes.csv", target="label", task="classification")
    cfg["train"]["weight_decay"] = float("inf")
    (workspace / "inf.yaml").write_text(yaml.safe_dump(cfg))
    answer = httpx.post(f"{server.url}/api/runs", json={"config": "inf.yaml"})
    assert answer.status_code == 400, answer.text
    assert "train.weight_decay: must be a finite number" in answer.json()["detail"]
