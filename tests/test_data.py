"""Reading, cleaning, splitting and preprocessing fitted on the training split only."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trainwise.config import load_config
from trainwise.data import Preprocessor, prepare_data


def _config(source, **data):
    return load_config({"data": {"source": str(source), "target": "y", **data}})


def test_standardisation_is_fitted_on_the_training_split_only(regression_csv):
    data = prepare_data(_config(regression_csv))
    x_train = data.arrays["train"][0]
    # x1 has no gaps (x2's imputed medians shift its mean a little).
    assert x_train[:, 0].mean() == pytest.approx(0, abs=1e-5)
    # The other splits use the training statistics, so their means are not exactly 0.
    assert abs(data.arrays["val"][0][:, 0].mean()) > 1e-3
    frame = pd.read_csv(regression_csv)
    train_rows = frame.loc[frame.index.isin(_train_index(regression_csv))]
    assert data.preprocessor.numeric["x1"]["mean"] == pytest.approx(train_rows.x1.mean())


def _train_index(csv):
    from sklearn.model_selection import train_test_split

    frame = pd.read_csv(csv)
    rest, _ = train_test_split(frame, test_size=0.2, random_state=0)
    train, _ = train_test_split(rest, test_size=0.25, random_state=1)
    return train.index


def test_text_columns_become_one_hot_and_missing_values_are_imputed(regression_csv):
    data = prepare_data(_config(regression_csv))
    prep = data.preprocessor
    assert prep.feature_names == ["x1", "x2", "colour=blue", "colour=green", "colour=red"]
    assert data.summary["missing_by_column"] == {"x2": 3}
    assert data.summary["missing_handling"] == "imputed"
    assert sum(data.summary["rows"].values()) == 300
    assert not np.isnan(data.arrays["train"][0]).any()


def test_missing_rows_can_be_dropped_and_are_counted(regression_csv):
    data = prepare_data(_config(regression_csv, missing="drop"))
    assert data.summary["dropped"] == {"inputs_missing": 3}
    assert sum(data.summary["rows"].values()) == 297


def test_preprocessing_round_trips_through_json(regression_csv):
    prep = prepare_data(_config(regression_csv)).preprocessor
    again = Preprocessor.from_dict(json.loads(json.dumps(prep.to_dict())))
    frame = pd.read_csv(regression_csv)
    assert np.array_equal(prep.transform_features(frame), again.transform_features(frame))


def test_unseen_categories_encode_as_zeros(regression_csv):
    prep = prepare_data(_config(regression_csv)).preprocessor
    row = pd.DataFrame({"x1": [0.0], "x2": [0.0], "colour": ["purple"]})
    assert prep.transform_features(row)[0, 2:].tolist() == [0, 0, 0]


def test_auto_mpg_origin_is_categorical_and_horsepower_imputed():
    cfg = load_config({"data": {"source": "auto_mpg", "target": "mpg", "drop": ["car_name"],
                                "categorical": ["origin"]}})
    data = prepare_data(cfg)
    assert [n for n in data.preprocessor.feature_names if n.startswith("origin")] == \
        ["origin=1", "origin=2", "origin=3"]
    assert data.summary["missing_by_column"] == {"horsepower": 6}
    assert data.summary["rows"] == {"train": 238, "val": 80, "test": 80}


def test_stratified_split_keeps_class_ratios(classification_csv):
    cfg = load_config({"data": {"source": str(classification_csv), "target": "label"},
                       "task": {"type": "classification"}})
    counts = prepare_data(cfg).summary["class_counts"]
    total = {k: sum(split[k] for split in counts.values()) for k in counts["train"]}
    for label, n in counts["test"].items():
        assert n == pytest.approx(total[label] * 0.2, abs=1)


def test_group_split_never_puts_a_group_in_two_splits(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"site": np.repeat(np.arange(40), 5), "x": rng.normal(size=200)})
    frame["y"] = frame.x * 2
    path = tmp_path / "sites.csv"
    frame.to_csv(path, index=False)
    cfg = load_config({"data": {"source": str(path), "target": "y",
                                "split": {"method": "group", "group_column": "site"}}})
    from trainwise.data.split import split_rows

    splits = split_rows(frame, cfg.data.split, "y", stratify=False, seed=0)
    sites = [set(part.site) for part in splits.values()]
    assert all(not (a & b) for i, a in enumerate(sites) for b in sites[i + 1:])
    assert len(splits) == 3


def test_explicit_validation_and_test_files(tmp_path, regression_csv):
    frame = pd.read_csv(regression_csv)
    frame[:200].to_csv(tmp_path / "train.csv", index=False)
    frame[200:250].to_csv(tmp_path / "val.csv", index=False)
    frame[250:].to_csv(tmp_path / "test.csv", index=False)
    cfg = _config(tmp_path / "train.csv", split={"method": "files",
                                                 "val_file": str(tmp_path / "val.csv"),
                                                 "test_file": str(tmp_path / "test.csv")})
    assert prepare_data(cfg).summary["rows"] == {"train": 200, "val": 50, "test": 50}


def test_no_validation_split(regression_csv):
    data = prepare_data(_config(regression_csv, split={"method": "none"}))
    assert not data.has_validation and data.summary["rows"] == {"train": 300}


def test_parquet_sources_read_like_csv(tmp_path, regression_csv):
    pd.read_csv(regression_csv).to_parquet(tmp_path / "table.parquet")
    from_csv = prepare_data(_config(regression_csv))
    from_parquet = prepare_data(_config(tmp_path / "table.parquet"))
    assert np.array_equal(from_csv.arrays["train"][0], from_parquet.arrays["train"][0])
