"""From a config to arrays: read -> choose columns -> clean -> split -> fit preprocessing on train.

Example:
    >>> from trainwise.config import load_config
    >>> data = prepare_data(load_config({"data": {"source": "auto_mpg", "target": "mpg",
    ...                                           "drop": ["car_name"]}}))
    >>> data.summary["rows"]
    {'train': 238, 'val': 80, 'test': 80}
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trainwise.config.schema import Config, DataConfig
from trainwise.data.preprocess import ROW_NUMBERING, Preprocessor, numeric_column
from trainwise.data.read import fingerprint, read_table
from trainwise.data.sites import VARIANCE_SUFFIX, aggregate_sites, site_measurements
from trainwise.data.smote import add_smote_rows
from trainwise.data.split import describe_split, split_rows, split_seed
from trainwise.data.stream_plan import decide_streaming
from trainwise.data.unlabelled import require_unlabelled, set_aside_unlabelled
from trainwise.errors import UserError

if TYPE_CHECKING:  # streaming.py imports torch, which reading a table does not need
    from trainwise.data.streaming import StreamSource

# An object column whose non-empty cells are mostly numbers is a numeric column with stray
# text (like Auto MPG's '?'), not a category: at this share we stop and show the text.
NUMERIC_SHARE_FOR_STRAY_TEXT = 0.8
# A validation or test split with fewer rows than this gets a warning: its loss and metrics
# swing with every row (R² is undefined for one row), so they say little about the model.
MIN_RELIABLE_SPLIT_ROWS = 10


@dataclass
class PreparedData:
    """Model-ready arrays per split, the fitted preprocessing, and a plain-data summary."""

    preprocessor: Preprocessor
    # split -> (X (N, F) float32, y): y is (N,), or (N, 2) site (mean, variance) for group_by.
    arrays: dict[str, tuple[np.ndarray, np.ndarray]]
    summary: dict = field(default_factory=dict)  # rows per split, missing values, classes...
    fingerprint: str = ""  # content hash of the source table
    unlabelled: np.ndarray | None = None  # (M, F) float32 rows with no target (pseudo-labelling)
    # data.group_by: split -> (site row (M,), measured value (M,) in the target's units).
    measurements: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
    # A streamed run (data.streaming): the training file and how it is read; arrays["train"]
    # then holds only the rows the preprocessing was fitted on.
    streaming: StreamSource | None = None
    # Array inputs: split -> which file (and frame) each sample is, for predictions.csv.
    sample_ids: dict[str, list[str]] | None = None

    @property
    def has_validation(self) -> bool:
        return "val" in self.arrays and len(self.arrays["val"][0]) > 0

    @property
    def has_test(self) -> bool:
        return "test" in self.arrays and len(self.arrays["test"][0]) > 0


def prepare_data(cfg: Config, preprocessor: Preprocessor | None = None,
                 refit_target: bool = False) -> PreparedData:
    """Read and split the data named by ``cfg.data`` and fit preprocessing on its train split.

    Args:
        cfg: the validated config.
        preprocessor: reuse this fitted preprocessing instead (fine-tuning a run's weights
            on new data: its inputs must be scaled as they were when the weights learned).
        refit_target: with ``preprocessor``, reuse only its input side and fit the target's
            scaling or classes on this data (transfer learning to a new target).

    Raises:
        UserError: for every data problem a user can fix (see ``trainwise.errors``).
    """
    data_cfg = cfg.data
    decision = decide_streaming(cfg)
    if decision.stream:
        # Imported here: stream_prepare builds on this module's helpers.
        from trainwise.data.stream_prepare import prepare_streamed

        return prepare_streamed(cfg, decision, preprocessor, refit_target)
    frame = read_table(data_cfg.source, "data.source", data_cfg.na_values)
    numeric, categorical = choose_columns(frame, data_cfg, f"data.source '{data_cfg.source}'")
    rows_read = len(frame)
    # Before cleaning and splitting: unlabelled rows never reach validation or test.
    frame, unlabelled, aside = set_aside_unlabelled(frame, data_cfg, numeric + categorical,
                                                    cfg.task.type)
    require_unlabelled(cfg, unlabelled)
    frame, cleaning = clean_rows(frame, data_cfg, numeric + categorical, cfg.task.type,
                                 f"data.source '{data_cfg.source}'")
    if cfg.task.type == "classification":
        require_two_classes(frame[data_cfg.target], f"data.source '{data_cfg.source}'")
    sites = None
    if data_cfg.group_by:
        sites = aggregate_sites(frame, data_cfg.group_by, data_cfg.target,
                                numeric + categorical, data_cfg.min_site_count,
                                data_cfg.site_variance_ddof)
        frame, cleaning["sites"] = sites.table, sites.report
    splits = _split(frame, cfg, numeric + categorical)
    _require_training_values(splits["train"], numeric + categorical, data_cfg)
    if preprocessor is not None and refit_target:
        preprocessor = _inputs_of(preprocessor, Preprocessor.fit(
            splits["train"], [], [], data_cfg.target, cfg.task.type, data_cfg.scale_target))
    prep = preprocessor or Preprocessor.fit(splits["train"], numeric, categorical,
                                            data_cfg.target, cfg.task.type,
                                            data_cfg.scale_target)
    arrays = {}
    for name, part in splits.items():
        label = f"the {name} split"
        arrays[name] = (prep.transform_features(part, label), _targets(part, prep, label, sites))
    summary = _summarise(splits, cleaning, prep, cfg)
    summary.update(describe_split(frame, splits, data_cfg.split, split_seed(cfg)))
    tiny = tiny_split_warnings(summary["rows"], cfg)
    if tiny:
        summary["warnings"] = summary.get("warnings", []) + tiny
    summary["streaming"] = {"enabled": False, "reason": decision.reason}
    if data_cfg.balance != "none":
        arrays["train"], summary["balance"] = _balance(arrays["train"], prep, cfg)
    data_fingerprint = fingerprint(frame)
    unlabelled_features = None
    if aside:
        summary.update(rows_read=rows_read, unlabelled_rows=aside["unlabelled_rows"])
        summary["dropped"].update(aside["dropped"])
        unlabelled_features = prep.transform_features(unlabelled, "the unlabelled rows")
    if not unlabelled.empty:
        # Unlabelled rows are part of the data a resume must find unchanged.
        data_fingerprint = fingerprint(pd.DataFrame({"labelled": [data_fingerprint],
                                                     "unlabelled": [fingerprint(unlabelled)]}))
    measurements = None if sites is None else {
        name: site_measurements(part, sites.measurements, data_cfg.target)
        for name, part in splits.items()}
    return PreparedData(prep, arrays, summary, data_fingerprint, unlabelled_features,
                        measurements)


def _targets(part: pd.DataFrame, prep: Preprocessor, label: str, sites) -> np.ndarray:
    """(N,) encoded targets, or (N, 2) scaled site (mean, variance) for per-site targets."""
    mean = prep.transform_target(part[prep.target], label)
    if sites is None:
        return mean
    variance = prep.transform_variance(part[prep.target + VARIANCE_SUFFIX].to_numpy())
    return np.stack([mean, variance], axis=1)  # (N, 2)


def _inputs_of(source: Preprocessor, fitted: Preprocessor) -> Preprocessor:
    """``fitted``'s target side with ``source``'s input side.

    Transferred weights expect the inputs scaled as when they learned; the target (its
    scaling, or its classes) belongs to the new data.
    """
    return replace(fitted, numeric=source.numeric, categorical=source.categorical)


def choose_columns(frame: pd.DataFrame, data_cfg: DataConfig, source: str) -> tuple[list, list]:
    """Split the input columns into numeric and categorical ones, checking they exist."""
    require_rows(frame, source)
    _require_columns(frame, [data_cfg.target], "data.target", source)
    _require_columns(frame, data_cfg.drop, "data.drop", source)
    _require_columns(frame, data_cfg.categorical, "data.categorical", source)
    if data_cfg.features is not None:
        _require_columns(frame, data_cfg.features, "data.features", source)
        features = [column for column in data_cfg.features if column != data_cfg.target]
    else:
        excluded = {data_cfg.target, *data_cfg.drop}
        # A text column naming the site (a code) identifies rows; it is no input.
        excluded |= {column for column in data_cfg.group_by
                     if column in frame.columns and _is_text(frame[column])}
        features = [column for column in frame.columns if column not in excluded]
    if not features:
        raise UserError(f"{source}: no input columns are left after removing the target and "
                        "data.drop; list some in data.features")
    _refuse_empty_columns(frame, features, data_cfg, source)
    numeric, categorical = [], []
    for column in features:
        if column in data_cfg.categorical or _is_text(frame[column]):
            categorical.append(column)
        else:
            numeric_column(frame, column, source)  # raises, showing any stray text
            numeric.append(column)
    return numeric, categorical


def clean_rows(frame: pd.DataFrame, data_cfg: DataConfig, inputs: list[str], task: str,
               source: str) -> tuple[pd.DataFrame, dict]:
    """Drop or count missing values as configured; returns the rows kept and the counts."""
    target = data_cfg.target
    if frame.empty:
        # data.source's rows were checked on reading: all of them were set aside as unlabelled.
        raise UserError(f"{source}: every row's target '{target}' is empty, so no row is "
                        "labelled to train on; fill in the targets of some rows.")
    if task != "classification":
        # A text or infinite target stops here, with a sample.
        numeric_column(frame, target, source, target=True)
    report = {"rows_read": len(frame), "missing_by_column": {}, "dropped": {}}
    no_target = frame[target].isna()
    if no_target.any():
        where = (f"{source}: target column '{target}' is empty in {int(no_target.sum())} rows "
                 f"(e.g. row {no_target.idxmax()}, {ROW_NUMBERING})")
        if data_cfg.target_missing == "unlabelled":
            # Only validation and test files get here: data.source's were set aside.
            raise UserError(f"{where}; validation and test rows need a target to be scored. "
                            "Fill them, or move those rows into data.source, where an empty "
                            "target marks an unlabelled row.")
        if data_cfg.target_missing == "error":
            raise UserError(f"{where}. Fill them, or set data.target_missing: drop to train on "
                            "the labelled rows only.")
        report["dropped"]["target_missing"] = int(no_target.sum())
        frame = frame[~no_target]
    missing = frame[inputs].isna().sum()
    report["missing_by_column"] = {column: int(n) for column, n in missing.items() if n}
    if data_cfg.missing == "drop" and missing.any():
        incomplete = frame[inputs].isna().any(axis=1)
        report["dropped"]["inputs_missing"] = int(incomplete.sum())
        frame = frame[~incomplete]
    report["missing_handling"] = "imputed" if data_cfg.missing == "impute" else "dropped"
    if frame.empty:
        raise UserError(f"{source}: no rows are left after dropping missing values "
                        f"({report['dropped']}); use data.missing: impute, or fill the gaps.")
    return frame, report


def require_rows(frame: pd.DataFrame, source: str) -> None:
    """A table with columns but no rows is a header-only file (or an empty Parquet table)."""
    if frame.empty:
        raise UserError(f"{source}: the file has a header and no data rows "
                        f"(columns: {', '.join(map(str, frame.columns)) or 'none'}); add the "
                        "rows below the header line, or point the config at the right file.")


def _refuse_empty_columns(frame: pd.DataFrame, features: list[str], data_cfg: DataConfig,
                          source: str) -> None:
    """An input with no value at all cannot be learned from or even imputed (no median)."""
    empty = [column for column in features if frame[column].isna().all()]
    if not empty:
        return
    one = len(empty) == 1
    names = ", ".join(map(repr, empty))
    them = "it" if one else "them"
    if data_cfg.features is not None:
        remove = f"take {them} out of data.features"
    else:
        remove = f"add {them} to data.drop (data.drop: [{', '.join(map(str, empty))}])"
    raise UserError(f"{source}: column{'' if one else 's'} {names} {'is' if one else 'are'} "
                    f"empty (missing) in all {len(frame)} rows, so there is nothing to learn "
                    f"from {them} or to fill {them} in with; {remove}, or fill in the values.")


def _require_training_values(train: pd.DataFrame, inputs: list[str], data_cfg: DataConfig) -> None:
    """Imputation fills an input's gaps from the training rows, so each needs a value there."""
    empty = [column for column in inputs if train[column].isna().all()]
    if empty and len(train):
        raise UserError(f"data.source '{data_cfg.source}': input column(s) "
                        f"{', '.join(map(repr, empty))} have values only outside the training "
                        f"split ({len(train)} rows), which leaves nothing to impute their gaps "
                        "with; add them to data.drop, fill in values, or change data.split.")


def require_two_classes(target: pd.Series, source: str) -> None:
    """A classifier needs at least two classes to tell apart."""
    classes = target.dropna().astype(str).value_counts()
    if len(classes) == 1:
        only, count = classes.index[0], int(classes.iloc[0])
        raise UserError(f"data.target: column '{target.name}' in {source} holds a single class, "
                        f"'{only}' (all {count} rows); a classifier needs at least two. Check "
                        "that data.target names the label column, add rows of the other "
                        "classes, or use task.type: regression for a numeric target.")


def tiny_split_warnings(rows: dict[str, int], cfg: Config) -> list[str]:
    """A warning per validation/test split under MIN_RELIABLE_SPLIT_ROWS rows (not empty)."""
    warnings = []
    for name, what in (("val", "validation"), ("test", "test")):
        count = rows.get(name, 0)
        if not 0 < count < MIN_RELIABLE_SPLIT_ROWS:
            continue
        why = ("R² is undefined for a single row, and " if count == 1
               and cfg.task.type != "classification" else "")
        fix = (f"add rows to data.split.{name}_file" if cfg.data.split.method == "files"
               else f"add rows, or raise data.split.{name}")
        warnings.append(
            f"the {what} split has only {count} row{'s' * (count != 1)} (fewer than "
            f"{MIN_RELIABLE_SPLIT_ROWS}): {why}its loss and metrics swing with every single "
            f"row, so they say little about the model. For numbers to trust, {fix}.")
    return warnings


def _split(frame: pd.DataFrame, cfg: Config, inputs: list[str]) -> dict[str, pd.DataFrame]:
    split_cfg = cfg.data.split
    if split_cfg.method != "files":
        stratify = split_cfg.stratify if split_cfg.stratify is not None else (
            cfg.task.type == "classification")
        return split_rows(frame, split_cfg, cfg.data.target, stratify, split_seed(cfg))
    splits = {"train": frame}
    for name, path, field_name in (("val", split_cfg.val_file, "data.split.val_file"),
                                   ("test", split_cfg.test_file, "data.split.test_file")):
        if path:
            extra = read_table(path, field_name, cfg.data.na_values)
            require_rows(extra, f"{field_name} '{path}'")
            _require_columns(extra, [cfg.data.target, *inputs], field_name, f"{field_name} '{path}'")
            splits[name], _ = clean_rows(extra, cfg.data, inputs, cfg.task.type,
                                         f"{field_name} '{path}'")
    return splits


def _summarise(splits: dict, cleaning: dict, prep: Preprocessor, cfg: Config) -> dict:
    summary = {
        "source": cfg.data.source,
        "target": cfg.data.target,
        "task": cfg.task.type,
        "rows": {name: len(part) for name, part in splits.items()},
        "numeric_columns": list(prep.numeric),
        "categorical_columns": {c: s["categories"] for c, s in prep.categorical.items()},
        "n_features": len(prep.feature_names),
        **cleaning,
    }
    if prep.task == "classification":
        summary["classes"] = prep.classes
        summary["class_counts"] = {
            name: {str(k): int(v) for k, v in part[cfg.data.target].value_counts().items()}
            for name, part in splits.items()
        }
    return summary


def _balance(train: tuple[np.ndarray, np.ndarray], prep: Preprocessor,
             cfg: Config) -> tuple[tuple[np.ndarray, np.ndarray], dict]:
    """SMOTE rows added to the training split now; the samplers balance later, per epoch."""
    method = cfg.data.balance
    if method != "smote":
        return train, {"method": method, "applied_to": "training rows, drawn anew each epoch"}
    train, record = add_smote_rows(*train, prep, cfg.data.smote_neighbors, cfg.train.seed)
    return train, {"method": method, **record}


def _require_columns(frame: pd.DataFrame, wanted: list[str], field_name: str, source: str) -> None:
    absent = [column for column in wanted if column not in frame.columns]
    if absent:
        raise UserError(f"{field_name}: column(s) {', '.join(map(repr, absent))} not found in "
                        f"{source}; its columns are: {', '.join(map(str, frame.columns))}. "
                        "Fix the name in the config.")


def _is_text(series: pd.Series) -> bool:
    """True for a text column that is a category, False for numbers (with or without stray text)."""
    if series.dtype.kind in "biuf":
        return False
    present = series.dropna()
    if present.empty:
        return False
    numeric_share = pd.to_numeric(present, errors="coerce").notna().mean()
    return numeric_share < NUMERIC_SHARE_FOR_STRAY_TEXT
