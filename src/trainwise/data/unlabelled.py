"""Rows with an empty target, kept aside as unlabelled rows for pseudo-labelling.

With ``data.target_missing: unlabelled`` (implied by ``train.pseudo_label.enabled``) those rows
leave the table before it is cleaned and split, so validation and test are cut from labelled
rows only; they are transformed later with the preprocessing fitted on the labelled training
rows, like any new input.

Example:
    >>> import pandas as pd
    >>> from trainwise.config.schema import DataConfig
    >>> frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", None, "b"]})
    >>> cfg = DataConfig(source="t.csv", target="y", target_missing="unlabelled")
    >>> labelled, unlabelled, report = set_aside_unlabelled(frame, cfg, ["x"], "classification")
    >>> len(labelled), len(unlabelled), report
    (2, 1, {'unlabelled_rows': 1, 'dropped': {}})
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trainwise.config.schema import Config, DataConfig
from trainwise.errors import UserError


def set_aside_unlabelled(frame: pd.DataFrame, data_cfg: DataConfig, inputs: list[str],
                         task: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Separate the rows whose target is empty (only with ``target_missing: unlabelled``).

    Args:
        frame: the table as read.
        data_cfg: the data section (target, target_missing, missing).
        inputs: the input columns: with ``data.missing: drop`` an unlabelled row missing one
            is dropped, as a labelled row would be.
        task: "regression" or "classification".

    Returns:
        The labelled rows, the unlabelled rows (empty unless the mode is ``unlabelled``) and
        ``{"unlabelled_rows": n, "dropped": {...}}`` for the data summary (empty dict when
        the mode is not ``unlabelled``).
    """
    if data_cfg.target_missing != "unlabelled":
        return frame, frame.iloc[:0], {}
    no_target = frame[data_cfg.target].isna()
    labelled, unlabelled = frame[~no_target], frame[no_target]
    dropped = {}
    if data_cfg.missing == "drop":
        incomplete = unlabelled[inputs].isna().any(axis=1)
        if incomplete.any():
            dropped["unlabelled_inputs_missing"] = int(incomplete.sum())
            unlabelled = unlabelled[~incomplete]
    if task == "classification":
        labelled = _integer_classes(labelled, data_cfg.target)
    return labelled, unlabelled, {"unlabelled_rows": len(unlabelled), "dropped": dropped}


def require_unlabelled(cfg: Config, unlabelled: pd.DataFrame) -> None:
    """Pseudo-labelling without a single unlabelled row is a mistake worth stopping for."""
    if cfg.train.pseudo_label.enabled and unlabelled.empty:
        raise UserError(f"train.pseudo_label is enabled but data.source '{cfg.data.source}' has "
                        f"no row with an empty '{cfg.data.target}': there is nothing to "
                        "pseudo-label. Leave the targets of the unlabelled rows empty, or set "
                        "train.pseudo_label.enabled: false.")


def _integer_classes(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """Integer class codes read as floats (3.0) because of the empty cells, made integers again.

    Without this, classes '3.0' from the training file would not match classes '3' from a
    fully labelled validation file.
    """
    values = frame[target]
    if values.dtype.kind != "f" or values.empty or not np.all(np.mod(values, 1) == 0):
        return frame
    return frame.assign(**{target: values.astype("int64")})
