"""fit's X and y as the table trainwise reads: a DataFrame, written to Parquet for a session.

A DataFrame keeps its columns and dtypes, so text and ``category`` columns are one-hot
encoded as trainwise encodes a file's; anything else (numpy arrays, lists) must be numeric,
as scikit-learn's estimators expect. Missing values (NaN) pass: trainwise imputes them with
the training rows' median or most frequent value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_array

from trainwise.atomic import write_atomic
from trainwise.data.read import fingerprint
from trainwise.sklearn.errors import EstimatorInputError


def feature_names(estimator) -> list[str]:
    """The table's column names: ``feature_names_in_`` when fit saw string column names,
    else ``x0, x1, ...`` (Parquet and the config need names)."""
    names = getattr(estimator, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else \
        [f"x{i}" for i in range(estimator.n_features_in_)]


def checked_inputs(X):
    """X, checked: a DataFrame as given, anything else as a 2-D float array.

    Raises:
        EstimatorInputError (a ValueError): a DataFrame with no rows or no columns.
        ValueError, TypeError: scikit-learn's own for a non-numeric, sparse or 1-D array.
    """
    if isinstance(X, pd.DataFrame):
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise EstimatorInputError(f"X has shape {X.shape}: a table needs at least one row "
                                      "and one column")
        return X
    return check_array(X, dtype="numeric", ensure_all_finite="allow-nan")


def feature_frame(X, names: list[str]) -> pd.DataFrame:
    """Checked inputs as a frame whose columns are ``names`` (in order), indexed 0..N-1."""
    if isinstance(X, pd.DataFrame):
        return X.set_axis(names, axis=1).reset_index(drop=True)
    return pd.DataFrame(X, columns=names)


def categorical_columns(frame: pd.DataFrame) -> list[str]:
    """Columns pandas itself calls categorical: one-hot encoded even when their categories are
    numbers (trainwise would otherwise read numeric-looking categories as numbers)."""
    return [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]


def target_name(features: list[str]) -> str:
    """A target column name that no feature has."""
    name = "target"
    while name in features:
        name += "_"
    return name


def write_table(frame: pd.DataFrame, y: np.ndarray, target: str, folder: Path) -> Path:
    """The training table as ``<folder>/<content hash>.parquet``.

    Named by content, so a kept run's ``data.source`` names its own rows and refits on the
    same rows share one file.
    """
    table = frame.assign(**{target: y})
    for column in table.columns[table.dtypes == object]:
        # Parquet wants one type per column; trainwise compares categories as text anyway.
        values = table[column]
        table[column] = values.where(values.isna(), values.astype(str))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{fingerprint(table)[:16]}.parquet"
    if not path.exists():  # atomic: parallel fits of a search may write the same rows
        write_atomic(path, lambda handle: table.to_parquet(handle, index=False),
                     durable=False)
    return path
