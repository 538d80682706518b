"""Estimator parameters are config keys with ``__`` for dots: ``train__lr`` is ``train.lr``.

The same spelling as ``trainwise.fit(..., train__epochs=20)`` and as scikit-learn's own
nesting (``pipeline__step__param``), so ``GridSearchCV(param_grid={"train__lr": [...]})``
reaches the config with no table of names to keep in step with the schema. A key's spelling
is checked here; whether the config has it is checked when ``fit`` validates the config,
with the schema's "did you mean".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trainwise.sklearn.errors import EstimatorInputError
from trainwise.yaml_io import load_yaml

# Set by the estimator from X, y and its class; a parameter or config value for them would be
# silently replaced, so asking for one is an error.
OWNED_KEYS = ("data.source", "data.target", "task.type")
# Without a split in the config or the parameters, every row given to fit trains: a search's
# cross-validation has already held its rows out. With one, no test split is cut unless it
# says so: scikit-learn does the testing; a validation split serves early stopping.
ALL_ROWS_TRAIN = {"data.split.method": "none"}
SPLIT_DEFAULTS = {"data.split.method": "random", "data.split.test": 0.0}


def check_param_name(name: str, estimator: str) -> None:
    """``config`` or a dotted config key spelled with ``__``.

    Raises:
        EstimatorInputError: any other name (scikit-learn expects a ValueError here).
    """
    if name == "config" or ("__" in name and not name.startswith("_") and
                            all(name.split("__"))):
        return
    raise EstimatorInputError(
        f"Invalid parameter {name!r} for estimator {estimator}: parameters are config keys "
        "with '__' for each dot (train__lr for train.lr, model__hidden for model.hidden), "
        "or config (a dict or a YAML path).")


def dotted(params: dict[str, Any]) -> dict[str, Any]:
    """``{"train__lr": 0.01}`` -> ``{"train.lr": 0.01}``, numpy scalars made plain (the
    config's validation refuses ``np.int64`` where it wants an int)."""
    return {key.replace("__", "."): _plain(value) for key, value in params.items()}


def raw_config(config: str | Path | dict | None) -> dict:
    """The config as a plain dict, read only to see which keys it sets.

    Raises:
        UserError: ``config`` is neither None, a dict nor a readable YAML file.
    """
    if config is None:
        return {}
    if isinstance(config, dict):
        return config
    if isinstance(config, (str, Path)):
        path = Path(config)
        if not path.is_file():
            raise EstimatorInputError(f"config: file '{path}' does not exist; give a YAML "
                                      "path, a dict, or None for the defaults")
        return load_yaml(path.read_text()) or {}
    raise EstimatorInputError(f"config must be None, a dict or a YAML path, not "
                              f"{type(config).__name__}")


def refuse_owned_keys(overrides: dict[str, Any], estimator: str) -> None:
    """The estimator sets the data source, target and task itself.

    Raises:
        EstimatorInputError: a parameter names one of them. (A config's are replaced
            silently: it may be a file-based project's YAML, reused for its model and
            training.)
    """
    asked = [key for key in OWNED_KEYS if key in overrides]
    if asked:
        raise EstimatorInputError(
            f"{', '.join(k.replace('.', '__') for k in asked)}: {estimator} sets these from "
            "fit's X and y and from its own kind (TrainwiseRegressor, TrainwiseClassifier, "
            "TrainwiseProbabilisticRegressor); remove them.")


def split_defaults(raw: dict, overrides: dict[str, Any]) -> dict[str, Any]:
    """The estimator's data.split keys, for those the config and the parameters leave out."""
    in_config = (raw.get("data") or {}).get("split") or {}
    if not in_config and not any(key.startswith("data.split.") for key in overrides):
        return ALL_ROWS_TRAIN
    return {key: value for key, value in SPLIT_DEFAULTS.items()
            if key.rsplit(".", 1)[1] not in in_config}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
