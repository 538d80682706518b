"""Preprocessing fitted on the training split only, saved as JSON next to the model.

Numeric columns are imputed with the training median and standardised; categorical columns
are imputed with the most frequent training value and one-hot encoded (values unseen in
training encode as all zeros). A regression target may be standardised; a class target is
encoded as indices into the sorted training classes.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"], "y": [0.0, 1.0, 2.0]})
    >>> prep = Preprocessor.fit(frame, numeric=["x"], categorical=["c"], target="y",
    ...                         task="regression", scale_target=False)
    >>> prep.feature_names
    ['x', 'c=a', 'c=b']
    >>> Preprocessor.from_dict(prep.to_dict()).transform_features(frame).shape
    (3, 3)
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from trainwise.errors import UnseenCategoryWarning, UserError

# How messages name rows: by the table's index, which for a file read whole is the data row
# counted from 0 below the header (row 0 is the file's second line), as pandas shows it.
ROW_NUMBERING = "counted from 0 below the header"
ROWS_SHOWN = 3  # rows and values a message lists before "... in all"
# Larger magnitudes overflow the float32 tensors a model trains on (to inf, then NaN).
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class Preprocessor:
    numeric: dict[str, dict[str, float]]  # column -> {median, mean, std}
    categorical: dict[str, dict]  # column -> {categories: [...], most_frequent: str}
    target: str
    task: str  # "regression", "classification" or "probabilistic_regression"
    target_mean: float = 0.0  # regression target standardisation (0/1 when off)
    target_std: float = 1.0
    classes: list = field(default_factory=list)  # classification: sorted training classes

    @classmethod
    def fit(cls, frame: pd.DataFrame, numeric: list[str], categorical: list[str], target: str,
            task: str, scale_target: bool = True) -> Preprocessor:
        """Learn medians, means, standard deviations, categories and classes from ``frame``."""
        numeric_stats = {}
        for column in numeric:
            values = pd.to_numeric(frame[column]).astype("float64")
            std = float(values.std(ddof=0))
            numeric_stats[column] = {
                "median": float(values.median()),
                "mean": float(values.mean()),
                # A constant column carries no information; scale by 1 instead of dividing by 0.
                "std": std if std > 0 else 1.0,
            }
        categorical_stats = {}
        for column in categorical:
            values = frame[column].dropna().astype(str)
            categorical_stats[column] = {
                "categories": sorted(values.unique().tolist()),
                "most_frequent": str(values.mode().iloc[0]) if len(values) else "",
            }
        prep = cls(numeric=numeric_stats, categorical=categorical_stats, target=target, task=task)
        if task != "classification" and scale_target:
            target_values = frame[target].astype("float64")
            prep.target_mean = float(target_values.mean())
            prep.target_std = float(target_values.std(ddof=0)) or 1.0
        if task == "classification":
            prep.classes = sorted(frame[target].dropna().unique().tolist(), key=_sort_key)
            prep.classes = [_plain(value) for value in prep.classes]
        return prep

    @property
    def input_columns(self) -> list[str]:
        """The raw columns a row must have for prediction."""
        return list(self.numeric) + list(self.categorical)

    @property
    def feature_names(self) -> list[str]:
        """Names of the model's input features, after one-hot encoding."""
        names = list(self.numeric)
        for column, stats in self.categorical.items():
            names += [f"{column}={category}" for category in stats["categories"]]
        return names

    @property
    def n_outputs(self) -> int:
        return len(self.classes) if self.task == "classification" else 1

    @property
    def is_probabilistic(self) -> bool:
        """The model predicts a Normal (mean, variance) per row, not one value."""
        return self.task == "probabilistic_regression"

    def transform_features(self, frame: pd.DataFrame, source: str = "the input",
                           unseen: str | None = None) -> np.ndarray:
        """Raw rows -> float32 matrix (N, n_features), imputing with training statistics.

        Args:
            frame: the raw rows.
            source: names the rows in error messages.
            unseen: a category never seen in training: None encodes it as all zeros
                silently (the validation and test splits of training), "warn" also warns
                (``UnseenCategoryWarning``), "error" raises a ``UserError``.
        """
        missing = [column for column in self.input_columns if column not in frame.columns]
        if missing:
            raise UserError(f"{source} lacks the training column(s) {', '.join(missing)}; "
                            f"the model needs: {', '.join(self.input_columns)}. Add them.")
        blocks = []
        for column, stats in self.numeric.items():
            values = numeric_column(frame, column, source, training=False).fillna(stats["median"])
            blocks.append(((values - stats["mean"]) / stats["std"]).to_numpy()[:, None])
        for column, stats in self.categorical.items():
            values = frame[column].astype("string").fillna(stats["most_frequent"]).to_numpy()
            categories = np.asarray(stats["categories"], dtype=object)
            if unseen is not None:
                _check_unseen(values, stats["categories"], frame.index, column, source, unseen)
            blocks.append((values[:, None] == categories[None, :]).astype("float64"))
        if not blocks:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.hstack(blocks).astype(np.float32)

    def transform_target(self, series: pd.Series, source: str = "the input") -> np.ndarray:
        """Raw target -> float32 (N,) scaled values, or int64 (N,) class indices."""
        if self.task != "classification":
            values = numeric_column(series.to_frame(), series.name, source, target=True)
            return ((values - self.target_mean) / self.target_std).to_numpy(dtype=np.float32)
        index = {str(value): position for position, value in enumerate(self.classes)}
        labels = series.map(lambda value: index.get(str(_plain(value)), -1)).to_numpy()
        unknown = sorted({str(value) for value, code in zip(series, labels) if code < 0})
        if unknown:
            raise UserError(f"{source}: column '{self.target}' has classes never seen in "
                            f"training: {', '.join(unknown[:5])}; known classes are "
                            f"{', '.join(map(str, self.classes))}. Remove those rows.")
        return labels.astype(np.int64)

    def inverse_target(self, scaled: np.ndarray) -> np.ndarray:
        """Model outputs of a regression -> values in the target's own units."""
        return scaled * self.target_std + self.target_mean

    def transform_variance(self, variance: np.ndarray) -> np.ndarray:
        """A variance in the target's units -> the scaled target's units (float32)."""
        return (np.asarray(variance, dtype="float64") / self.target_std ** 2).astype(np.float32)

    def inverse_variance(self, scaled: np.ndarray) -> np.ndarray:
        """A predicted variance of the scaled target -> the target's own units (squared)."""
        return scaled * self.target_std ** 2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessor:
        return cls(**data)


def numeric_column(frame: pd.DataFrame, column: str, source: str,
                   training: bool = True, target: bool = False) -> pd.Series:
    """A column as float64, or a UserError that shows the text or infinity found in it.

    ``training`` picks the advice: config changes help before training; afterwards only the
    input file can change. ``target``: the column is the target (its gaps are handled by
    data.target_missing, not imputed).
    """
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = raw.notna() & values.isna()
    if bad.any():
        rows = list(raw.index[bad][:ROWS_SHOWN])
        sample = ", ".join(repr(raw[row]) for row in rows)
        if training:
            kind = ("set task.type: classification if it holds class labels" if target else
                    f"add '{column}' to data.categorical if it is a category")
            fix = (f"Fix those cells, list them as missing with data.na_values (e.g. ['?']), "
                   f"or {kind}.")
        else:
            fix = "Fix those cells" + _after_training_gaps(target)
        raise UserError(
            f"{source}: column '{column}' should be numeric but holds text, e.g. {sample} "
            f"({row_list(rows)}; {int(bad.sum())} in all). {fix}"
        )
    _refuse_infinite(raw, values, column, source, training, target)
    return values


def row_list(rows) -> str:
    """``rows 3, 8, counted from 0 below the header``: how messages list rows."""
    return f"rows {', '.join(map(str, rows))}, {ROW_NUMBERING}"


def _refuse_infinite(raw: pd.Series, values: pd.Series, column: str, source: str,
                     training: bool, target: bool) -> None:
    """inf/-inf, or a number beyond float32's range (the precision the model trains in),
    would make the scaling and the loss infinite or NaN."""
    infinite = np.abs(values.to_numpy()) > FLOAT32_MAX
    if not infinite.any():
        return
    rows = list(raw.index[infinite][:ROWS_SHOWN])
    # The cells as written ('inf', '-1e999'); numbers read as such show as inf / -inf.
    sample = ", ".join(str(raw[row]) for row in rows)
    if not training:
        fix = "Replace them with finite numbers" + _after_training_gaps(target)
    elif target:
        fix = ("Replace them with finite numbers, or leave those cells empty and set "
               "data.target_missing: drop to train without those rows.")
    else:
        fix = ("Replace them with finite numbers, or leave those cells empty: data.missing "
               "imputes them (impute, the default) or drops those rows (drop).")
    raise UserError(
        f"{source}: column '{column}' holds infinite values (inf, -inf, or a number beyond "
        f"±3.4e38, too large for the 32-bit floats a model trains in), e.g. {sample} ({row_list(rows)}; {int(infinite.sum())} in all). "
        f"{fix}"
    )


def _after_training_gaps(target: bool) -> str:
    """What an empty cell does after training: inputs are imputed; a target cannot be."""
    if target:
        return ", or remove those rows: scoring needs a target in every row."
    return ", or leave those cells empty: missing values are filled in as they were in training."


def _check_unseen(values: np.ndarray, categories: list, index: pd.Index, column: str,
                  source: str, mode: str) -> None:
    """Warn about (or, with mode 'error', refuse) values of ``column`` unseen in training."""
    unseen = ~np.isin(values, np.asarray(categories, dtype=object))
    if not unseen.any():
        return
    new_values = sorted({str(value) for value in values[unseen]})
    listed = ", ".join(map(repr, new_values[:ROWS_SHOWN * 2]))
    more = f" and {len(new_values) - ROWS_SHOWN * 2} more" if len(new_values) > ROWS_SHOWN * 2 else ""
    rows = list(index[unseen][:ROWS_SHOWN])
    count = int(unseen.sum())
    what = (f"{source}: column '{column}' has {len(new_values)} value(s) never seen in "
            f"training: {listed}{more}, in {count} row{'s' * (count != 1)} ({row_list(rows)}"
            f"{', ...' if count > len(rows) else ''}). Known values: "
            f"{', '.join(map(str, categories[:10]))}{', ...' if len(categories) > 10 else ''}.")
    if mode == "error":
        raise UserError(f"{what} The run's data.unseen_categories is 'error'. Fix or remove "
                        "those rows, or predict anyway with --unseen-categories warn "
                        "(Python: unseen_categories='warn'): they then encode as no known "
                        "category.")
    warnings.warn(f"{what} They encode as no known category (all zeros), so their predictions "
                  "rest on the other columns only. Set data.unseen_categories: error (or "
                  "--unseen-categories error) to stop instead.", UnseenCategoryWarning,
                  stacklevel=4)


def _plain(value):
    """numpy scalars -> Python scalars, so classes survive a JSON round trip."""
    return value.item() if isinstance(value, np.generic) else value


def _sort_key(value):
    return (0, value, "") if isinstance(value, (int, float, np.number)) else (1, 0, str(value))
