"""What the three estimators share: parameters as config keys, fit through a session, tags.

``fit`` writes X and y to a Parquet file and trains one trainwise run on it, with the
estimator's config and parameters, through the same session as ``trainwise train`` (so every
config key works as it does there). The run lives in a temporary folder, removed when ``fit``
returns, unless ``fit(..., keep_runs=folder)``; the estimator keeps the run's config,
preprocessing and weights in memory (``FittedModel``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from trainwise.config.load import load_config
from trainwise.config.schema import Config
from trainwise.session import open_session
from trainwise.sklearn.errors import EstimatorInputError
from trainwise.sklearn.fitted import FittedModel
from trainwise.sklearn.params import (check_param_name, dotted, raw_config, refuse_owned_keys,
                                      split_defaults)
from trainwise.sklearn.table import (categorical_columns, checked_inputs, feature_frame,
                                     feature_names, target_name, write_table)

DATA_FOLDER = "sklearn_data"  # under keep_runs: the tables kept runs read


class TrainwiseEstimator(BaseEstimator):
    """A trainwise run as a scikit-learn estimator (use the three subclasses).

    Args:
        config: a config dict, a YAML path, or None for trainwise's defaults. Its data source,
            target and task are set by the estimator; its data.split is used if it has one.
        **params: config keys with ``__`` for dots: ``train__lr=0.01``,
            ``model__hidden=[32, 32]``, ``data__split__val=0.1`` (early stopping on 10 %).

    Attributes (after ``fit``):
        model_: the run's config, preprocessing and weights (``FittedModel``).
        history_: one dict per epoch, as ``Run.history``.
        run_path_: the kept run's folder (``fit(..., keep_runs=...)``), else None.
        n_features_in_, feature_names_in_: as every scikit-learn estimator.

    Example:
        >>> from trainwise.sklearn import TrainwiseRegressor
        >>> TrainwiseRegressor(train__lr=0.01).set_params(model__hidden=[8]).get_params()
        {'config': None, 'train__lr': 0.01, 'model__hidden': [8]}
    """

    task_type = ""  # task.type, set by each subclass

    def __init__(self, config: str | Path | dict | None = None, **params: Any):
        self.config = config
        # A private dict, not one attribute per key: scikit-learn's checks allow only the
        # signature's names as public attributes, and get_params/set_params read this.
        self._params = dict(params)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"config": self.config, **self._params}

    def set_params(self, **params: Any) -> TrainwiseEstimator:
        """Set ``config`` or config keys (``train__lr``...); returns the estimator.

        Raises:
            EstimatorInputError: a name that is neither (a ValueError, as scikit-learn's).
        """
        for name, value in params.items():
            check_param_name(name, type(self).__name__)
            if name == "config":
                self.config = value
            else:
                self._params[name] = value
        return self

    def fit(self, X, y, keep_runs: str | Path | None = None) -> TrainwiseEstimator:
        """Train on every row of X and y (unless the config or a parameter sets data.split).

        Args:
            X: a DataFrame (text and category columns are one-hot encoded) or a numeric
                array; NaN is imputed.
            y: the target, one value per row.
            keep_runs: a runs folder to keep the run record in (its table goes to
                ``<keep_runs>/sklearn_data/``); None keeps nothing on disk. A fit argument,
                not a parameter, so the clones inside a search never record runs.

        Raises:
            EstimatorInputError, UserError: bad data, labels or parameters.
        """
        if y is None:  # scikit-learn's wording, which its checks look for
            raise EstimatorInputError(f"{type(self).__name__} requires y to be passed, but the "
                                      "target y is None")
        inputs = checked_inputs(X)
        validate_data(self, inputs, skip_check_array=True)  # n_features_in_, feature_names_in_
        frame = feature_frame(inputs, feature_names(self))
        target = self._encode_target(y)
        check_consistent_length(frame, target)
        self.model_, self.history_, self.run_path_ = self._train(frame, target, keep_runs)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # imputed with the training rows' median / mode
        tags.input_tags.categorical = True  # a DataFrame's text and category columns
        return tags

    def _encode_target(self, y) -> np.ndarray:
        """y as the table's target column (checked; a classifier also sets ``classes_``)."""
        raise NotImplementedError

    def _frame(self, X) -> pd.DataFrame:
        """Rows to predict, checked against what fit saw, as a frame of the training columns."""
        check_is_fitted(self)
        inputs = checked_inputs(X)
        validate_data(self, inputs, skip_check_array=True, reset=False)
        return feature_frame(inputs, feature_names(self))

    def _predictions(self, X) -> pd.DataFrame:
        frame = self._frame(X)  # before reading model_: it raises NotFittedError
        return self.model_.predict(frame)

    def _train(self, frame: pd.DataFrame, target: np.ndarray,
               keep_runs: str | Path | None) -> tuple[FittedModel, list[dict], Path | None]:
        with tempfile.TemporaryDirectory(prefix="trainwise-sklearn-") as scratch:
            runs_dir = Path(keep_runs) if keep_runs is not None else Path(scratch)
            column = target_name(list(frame.columns))
            source = write_table(frame, target, column, runs_dir / DATA_FOLDER)
            # A temporary run's store is its own too: $TRAINWISE_STORE or the config's store
            # would otherwise index a run whose folder is about to go.
            store = None if keep_runs is not None else f"sqlite:///{scratch}/trainwise.db"
            cfg = self._training_config(source, column, categorical_columns(frame), store)
            run = open_session(cfg, runs_dir, progress=False).train(
                draw_plots=keep_runs is not None)
            if run.status.get("status") != "finished":
                # The reason names the fix as config keys (train.lr): parameters spell them
                # with '__'.
                raise EstimatorInputError(f"training ended {run.status.get('status')}: "
                                          f"{run.status.get('reason')}")
            return (FittedModel.from_run(run), run.history,
                    run.path if keep_runs is not None else None)

    def _training_config(self, source: Path, target: str, categorical: list[str],
                         store: str | None) -> Config:
        raw, overrides = raw_config(self.config), dotted(self._params)
        refuse_owned_keys(overrides, type(self).__name__)
        overrides = {**split_defaults(raw, overrides), **overrides}
        if categorical:
            declared = overrides.get("data.categorical", (raw.get("data") or {}).get(
                "categorical", []))
            overrides["data.categorical"] = sorted({*declared, *categorical})
        overrides.update({"data.source": str(source), "data.target": target,
                          "task.type": self.task_type})
        if store is not None:
            overrides["runs.store"] = store
        return load_config(self.config if self.config is not None else {}, overrides)
