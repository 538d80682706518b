"""Split rows into train/val/test: by seeded random fractions (stratified or not) or by group."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from trainwise.config.schema import SplitConfig
from trainwise.errors import UserError


def split_rows(frame: pd.DataFrame, split_cfg: SplitConfig, target: str, stratify: bool,
               seed: int) -> dict[str, pd.DataFrame]:
    """Return ``{"train": ..., "val": ..., "test": ...}`` (absent splits are left out).

    The test split is cut first, then validation from the rest, so changing ``val`` never
    changes which rows are held out for the final evaluation.
    """
    if split_cfg.method == "none":
        return {"train": frame}
    if stratify and split_cfg.method == "random":
        _check_stratifiable(frame[target], split_cfg, target)
    rest, test = _cut(frame, split_cfg.test, split_cfg, target, stratify, seed)
    # val is a fraction of the whole table; rescale it to a fraction of what remains.
    val_of_rest = split_cfg.val / (1.0 - split_cfg.test) if split_cfg.val else 0.0
    train, val = _cut(rest, val_of_rest, split_cfg, target, stratify, seed + 1)
    splits = {"train": train, "val": val, "test": test}
    if len(train) == 0:
        raise UserError(f"data.split: val {split_cfg.val} and test {split_cfg.test} leave no "
                        f"training rows out of {len(frame)}; lower them.")
    return {name: part for name, part in splits.items() if name == "train" or len(part)}


def _cut(frame: pd.DataFrame, fraction: float, split_cfg: SplitConfig, target: str,
         stratify: bool, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    if fraction <= 0:
        return frame, frame.iloc[:0]
    if split_cfg.method == "group":
        column = split_cfg.group_column
        if column not in frame.columns:
            raise UserError(f"data.split.group_column: column '{column}' not found; its "
                            f"columns are: {', '.join(map(str, frame.columns))}")
        groups = frame[column].astype(str)
        if groups.nunique() < 2:
            raise UserError(f"data.split.group_column '{column}' has fewer than 2 groups; "
                            "a group split needs several.")
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        keep, held = next(splitter.split(frame, groups=groups))
        return frame.iloc[keep], frame.iloc[held]
    labels = frame[target] if stratify else None
    try:
        keep, held = train_test_split(frame, test_size=fraction, random_state=seed,
                                      stratify=labels)
    except ValueError as err:  # e.g. fewer held-out rows than classes
        raise UserError(f"data.split: cannot cut a stratified {fraction:.0%} split from "
                        f"{len(frame)} rows: {err}. Raise data.split.val/test, add rows, or "
                        "set data.split.stratify: false.") from None
    return keep, held


def _check_stratifiable(labels: pd.Series, split_cfg: SplitConfig, target: str) -> None:
    """Each class needs a row in every split it is stratified into; say which one is short."""
    parts = 1 + (split_cfg.val > 0) + (split_cfg.test > 0)
    counts = labels.value_counts()
    small = counts[counts < parts]
    if not small.empty:
        listed = ", ".join(f"'{label}' ({count} row{'s' * (count != 1)})"
                           for label, count in small.items())
        raise UserError(
            f"data.target '{target}': class {listed} is too small for a stratified "
            f"{parts}-way split (each class needs at least {parts} rows). Remove or merge "
            "that class, add rows, or set data.split.stratify: false."
        )
