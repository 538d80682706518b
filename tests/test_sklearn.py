"""trainwise.sklearn: scikit-learn's estimator checks, a search, a pipeline, pickle, tables."""

from __future__ import annotations

import pickle
import tempfile

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_wine
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import trainwise
from trainwise.errors import UnseenCategoryWarning, UserError
from trainwise.sklearn import (EstimatorInputError, TrainwiseClassifier,
                               TrainwiseProbabilisticRegressor, TrainwiseRegressor)

# Small and quick: check_estimator alone fits each estimator a few dozen times.
FAST = {"train__epochs": 10, "train__device": "cpu", "model__hidden": [16], "train__lr": 0.01}

# Checks that cannot pass, each with why (docs/design.md, "scikit-learn estimators").
EXPECTED_FAILED_CHECKS = {
    "check_do_not_raise_errors_in_init_or_set_params": (
        "it passes the **params catch-all's own name, 'params', as a parameter; set_params "
        "refuses a name that is not a config key, as BaseEstimator.set_params refuses an "
        "unknown name"),
}


@pytest.fixture(autouse=True)
def _one_thread():
    # Many tiny fits: a second thread costs more in hand-offs than it gains (2 shared cores).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """tempfile's folder for the test: whatever fit leaves behind shows up here."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X, y


@parametrize_with_checks(
    [TrainwiseRegressor(**FAST), TrainwiseClassifier(**FAST),
     TrainwiseProbabilisticRegressor(**FAST)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_grid_search_over_config_keys_picks_a_best(diabetes, private_tmp):
    X, y = diabetes
    grid = {"train__lr": [1e-4, 1e-2], "model__hidden": [[8], [32, 32]]}
    search = GridSearchCV(TrainwiseRegressor(train__epochs=10, train__device="cpu"), grid,
                          cv=2).fit(X, y)

    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    # Ten epochs at 1e-4 barely move from the initial weights; 1e-2 learns.
    assert search.best_params_["train__lr"] == 1e-2
    assert search.best_score_ > 0.3
    assert search.best_estimator_.get_params()["model__hidden"] == search.best_params_[
        "model__hidden"]
    # The runs of all nine fits are gone. (torch may leave its own compile cache there.)
    assert list(private_tmp.glob("trainwise-sklearn-*")) == []


def test_pipeline_with_a_scaler_cross_validates_and_searches_through_the_step(diabetes):
    X, y = diabetes
    pipe = Pipeline([("scale", StandardScaler()), ("net", TrainwiseRegressor(**FAST))])

    scores = cross_val_score(pipe, X, y, cv=3)

    assert scores.shape == (3,) and (scores > 0.2).all()
    pipe.set_params(net__train__lr=0.02)
    assert pipe.named_steps["net"].get_params()["train__lr"] == 0.02


def test_column_transformer_feeds_the_classifier():
    X, y = load_wine(return_X_y=True, as_frame=True)
    scale = ColumnTransformer([("scaled", StandardScaler(), list(X.columns[:6]))],
                              remainder="passthrough")
    pipe = Pipeline([("columns", scale), ("net", TrainwiseClassifier(**FAST))]).fit(X, y)

    assert pipe.score(X, y) > 0.9
    assert list(pipe.classes_) == [0, 1, 2]


def test_pickle_round_trip_predicts_identically():
    X, y = load_wine(return_X_y=True)
    net = TrainwiseClassifier(**FAST).fit(X, y)

    copy = pickle.loads(pickle.dumps(net))

    np.testing.assert_array_equal(copy.predict_proba(X), net.predict_proba(X))
    np.testing.assert_array_equal(copy.predict(X), net.predict(X))
    assert len(pickle.dumps(net)) < 100_000  # weights, preprocessing, config: no run folder


def test_probabilistic_regressor_returns_mean_and_std(diabetes):
    X, y = diabetes
    net = TrainwiseProbabilisticRegressor(**FAST).fit(X, y)

    mean, std = net.predict(X, return_std=True)

    np.testing.assert_array_equal(mean, net.predict(X))
    assert mean.shape == std.shape == (len(X),)
    assert (std > 0).all() and np.isfinite(std).all()
    assert net.score(X, y) > 0.2  # R² of the mean


def test_dataframe_keeps_names_and_one_hot_encodes_categories():
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({"x": rng.normal(size=n),
                      "colour": rng.choice(["red", "green", "blue"], size=n),
                      "grade": pd.Categorical(rng.choice([1, 2, 3], size=n))})
    y = 2 * X["x"] + 3 * (X["colour"] == "red") + X["grade"].astype(int)

    net = TrainwiseRegressor(train__epochs=30, train__device="cpu", train__lr=0.01).fit(X, y)

    assert list(net.feature_names_in_) == ["x", "colour", "grade"] and net.n_features_in_ == 3
    # Text columns are found as trainwise finds them; a pandas category column too, even
    # with numeric categories.
    assert set(net.model_.preprocessor.categorical) == {"colour", "grade"}
    assert net.score(X, y) > 0.9
    unseen = X.head(2).assign(colour="purple")
    with pytest.warns(UnseenCategoryWarning, match="purple"):
        net.predict(unseen)


def test_keep_runs_leaves_a_run_that_trainwise_loads(diabetes, tmp_path):
    X, y = diabetes
    net = TrainwiseRegressor(**FAST).fit(X, y, keep_runs=tmp_path / "runs")

    run = trainwise.load_run(net.run_path_)

    assert run.status["status"] == "finished" and len(run.history) == len(net.history_)
    np.testing.assert_allclose(run.predict(X)[f"{run.config.data.target}_pred"],
                               net.predict(X), rtol=1e-6)
    assert run.config.data.split.method == "none"  # every row trained
    assert run.config.data.source.startswith(str(tmp_path / "runs" / "sklearn_data"))


def test_a_validation_split_asked_for_is_cut_without_a_test_split(diabetes):
    X, y = diabetes
    net = TrainwiseRegressor(**FAST, data__split__val=0.2).fit(X, y)

    assert "val_loss" in net.history_[-1]
    assert net.model_.cfg.data.split.test == 0.0


def test_config_dict_and_parameters_combine(diabetes, tmp_path):
    X, y = diabetes
    config = tmp_path / "net.yaml"
    config.write_text("model:\n  hidden: [8]\ntrain:\n  epochs: 3\n  device: cpu\n")

    net = TrainwiseRegressor(config=str(config), train__epochs=2).fit(X, y)

    assert len(net.history_) == 2 and net.model_.cfg.model.hidden == [8]


@pytest.mark.parametrize(("params", "match"), [
    ({"lr": 0.1}, "Invalid parameter 'lr'.*train__lr"),
    ({"data__target": "y"}, "data__target: TrainwiseRegressor sets"),
])
def test_parameters_that_are_no_config_key_are_refused(diabetes, params, match):
    X, y = diabetes
    with pytest.raises(EstimatorInputError, match=match) as caught:
        TrainwiseRegressor().set_params(**params).fit(X, y)
    assert isinstance(caught.value, UserError) and isinstance(caught.value, ValueError)


def test_a_misspelt_config_key_says_what_was_meant(diabetes):
    X, y = diabetes
    with pytest.raises(UserError, match="did you mean"):
        TrainwiseRegressor(train__lrr=0.1).fit(X, y)


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="one class"):
        TrainwiseClassifier(**FAST).fit(np.ones((5, 2)), ["a"] * 5)
