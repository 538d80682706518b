"""The search space: checked against the config before any trial, and drawn for one trial.

Every key is a dotted config path (``train.lr``); its kind follows the value the config holds
there: a whole-number key (``train.batch_size``) draws integers, a float key floats, and
anything else (lists, names, booleans) needs ``choices``.

Example:
    >>> dimension = SearchDimension(low=1e-4, high=1e-1, log=True)
    >>> check_space(base, {"train.lr": dimension})              # doctest: +SKIP
    >>> trial_config(base, suggest(trial, {"train.lr": dimension}), "mpg-t3")  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
from typing import Any

import optuna

from trainwise.config.dotted import flatten  # noqa: F401  (the tune modules import it from here)
from trainwise.config.load import load_config
from trainwise.config.schema import Config
from trainwise.config.tune import SearchDimension
from trainwise.errors import UserError

# Sections a trial's config never carries: they describe many runs, not one.
NOT_SEARCHABLE = ("name", "tune", "sweep")


def base_config(cfg: Config) -> dict:
    """The config every trial starts from, as plain data (``tune`` and ``sweep`` removed)."""
    return cfg.model_dump(mode="json", exclude={"tune", "sweep"})


def check_space(cfg: Config, space: dict[str, SearchDimension]) -> None:
    """Refuse a space that cannot be searched, before anything is trained.

    Raises:
        UserError: an empty space, a key the config does not have (with a suggestion), a
            range on a key that is not a number, or an end or choice the config refuses.
    """
    if not space:
        raise UserError("tune.space is empty; add the keys to search, e.g. tune.space: "
                        "{train.lr: {low: 1.0e-4, high: 1.0e-1, log: true}}")
    flat = flatten(base_config(cfg))
    for key, dimension in space.items():
        current = _existing_value(key, flat)
        if dimension.choices is None:
            _check_range(key, dimension, current)
        for value in _values_to_try(dimension, current):
            _check_value(cfg, key, value)


def _existing_value(key: str, flat: dict[str, Any]) -> Any:
    where = f"tune.space.{key}"
    if key.split(".")[0] in NOT_SEARCHABLE:
        raise UserError(f"{where}: '{key}' cannot be searched; search training keys such as "
                        "train.lr or model.dropout")
    if key in flat:
        return flat[key]
    # A section (model.hidden is a leaf; model is not): its keys are what can be searched.
    inside = [name for name in flat if name.startswith(f"{key}.")]
    if inside:
        raise UserError(f"{where}: '{key}' is a section; search one of its keys, e.g. "
                        f"{', '.join(inside[:4])}")
    close = difflib.get_close_matches(key, list(flat), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise UserError(f"{where}: the config has no key '{key}'; {hint}keys are dotted config "
                    "paths such as train.lr, train.weight_decay or model.dropout")


def _check_range(key: str, dimension: SearchDimension, current: Any) -> None:
    where = f"tune.space.{key}"
    if isinstance(current, bool) or not isinstance(current, (int, float)):
        raise UserError(f"{where}: a range (low/high) needs a number, but {key} is "
                        f"{current!r}; list the values instead, e.g. {key}: {{choices: [...]}}")
    if _is_integer(current):
        ends = (dimension.low, dimension.high, dimension.step or 1)
        if not all(float(value).is_integer() for value in ends):
            raise UserError(f"{where}: {key} is a whole number, so low, high and step must be "
                            f"whole numbers too (got low {dimension.low}, high {dimension.high}"
                            f", step {dimension.step})")


def _values_to_try(dimension: SearchDimension, current: Any) -> list[Any]:
    """The values whose validity proves the dimension's: its ends, or every choice."""
    if dimension.choices is not None:
        return list(dimension.choices)
    cast = int if _is_integer(current) else float
    return [cast(dimension.low), cast(dimension.high)]


def _check_value(cfg: Config, key: str, value: Any) -> None:
    try:
        load_config(base_config(cfg), {key: value})
    except UserError as err:
        raise UserError(f"tune.space.{key}: the value {value!r} is not valid for {key} ({err})"
                        ". Narrow the range or fix the choice") from None


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def suggest(trial: optuna.Trial, base: Config, space: dict[str, SearchDimension]
            ) -> dict[str, Any]:
    """The trial's parameters, by config path (Optuna records them under the same names)."""
    flat = flatten(base_config(base))
    return {key: _suggest_one(trial, key, dimension, flat[key])
            for key, dimension in space.items()}


def _suggest_one(trial: optuna.Trial, key: str, dimension: SearchDimension, current: Any):
    if dimension.choices is not None:
        return _choose(trial, key, dimension.choices)
    if _is_integer(current):
        return trial.suggest_int(key, int(dimension.low), int(dimension.high),
                                 step=int(dimension.step or 1), log=dimension.log)
    return trial.suggest_float(key, dimension.low, dimension.high, step=dimension.step,
                               log=dimension.log)


def _choose(trial: optuna.Trial, key: str, choices: list) -> Any:
    """A choice; lists and mappings (``model.hidden``) go to Optuna as their index, since it
    stores only None, booleans, numbers and strings."""
    if all(choice is None or isinstance(choice, (bool, int, float, str)) for choice in choices):
        return trial.suggest_categorical(key, choices)
    return choices[trial.suggest_categorical(f"{key}#", list(range(len(choices))))]


def trial_config(base: Config, params: dict[str, Any], name: str) -> Config:
    """The base config with the trial's parameters and its run name."""
    return load_config(base_config(base), {**params, "name": name})
