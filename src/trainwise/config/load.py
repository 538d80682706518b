"""Read a YAML config, apply ``key=value`` overrides, validate, and explain what is wrong.

Example:
    >>> cfg = load_config({"data": {"source": "auto_mpg", "target": "mpg"}},
    ...                   ["train.lr=0.003", "model.hidden=[32,32]"])
    >>> cfg.train.lr, cfg.model.hidden
    (0.003, [32, 32])
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from trainwise.config.schema import Config
from trainwise.errors import UserError


def load_config(source: str | Path | dict | Config, overrides: list[str] | dict | None = None) -> Config:
    """Build a validated ``Config`` from a YAML path, a dict or a Config, plus overrides.

    Args:
        source: path to a YAML file, a nested dict, or an existing Config.
        overrides: ``["train.lr=0.003"]`` strings, or ``{"train.lr": 0.003}``.

    Returns:
        The validated config. Relative data paths are made relative to the YAML file's folder.

    Raises:
        UserError: missing/unreadable file, bad YAML, unknown keys, invalid values.
    """
    origin = "the config"
    if isinstance(source, Config):
        raw = source.model_dump()
    elif isinstance(source, dict):
        raw = copy.deepcopy(source)
    else:
        path = Path(source)
        origin = str(path)
        raw = _read_yaml(path)
        _anchor_paths(raw, path.parent)
    for dotted, value in parse_overrides(overrides).items():
        _set_dotted(raw, dotted, value, origin)
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        raise UserError(_explain(err, origin)) from None


def parse_overrides(overrides: list[str] | dict | None) -> dict[str, Any]:
    """Turn ``["a.b=1", "c=[1,2]"]`` into ``{"a.b": 1, "c": [1, 2]}`` (values parsed as YAML)."""
    if not overrides:
        return {}
    if isinstance(overrides, dict):
        return {key.replace("__", "."): value for key, value in overrides.items()}
    parsed = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"override '{item}' is not of the form key=value, "
                            "e.g. train.lr=0.003 or model.hidden=[64,64]")
        parsed[key.strip()] = yaml.safe_load(text) if text.strip() else None
    return parsed


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"config file '{path}' does not exist; check the path "
                        "(examples live in examples/, e.g. examples/auto_mpg.yaml)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise UserError(f"config file '{path}' is not valid YAML: {err}. "
                        "Fix the indentation or quoting at the position shown.") from None
    if not isinstance(raw, dict):
        raise UserError(f"config file '{path}' must be a mapping of sections "
                        "(data:, model:, train:, ...), not {type(raw).__name__}")
    return raw


def _anchor_paths(raw: dict, folder: Path) -> None:
    """Make relative data file paths relative to the config file, as a user reads them."""
    data = raw.get("data")
    if not isinstance(data, dict):
        return
    split = data.get("split") if isinstance(data.get("split"), dict) else {}
    for section, key in ((data, "source"), (split, "val_file"), (split, "test_file")):
        value = section.get(key)
        if isinstance(value, str) and _looks_like_path(value) and not Path(value).is_absolute():
            # Absolute, so the run record's config still finds the file from any folder.
            candidate = folder / value
            chosen = candidate if candidate.exists() or not Path(value).exists() else Path(value)
            section[key] = str(chosen.resolve())


def _looks_like_path(value: str) -> bool:
    return "/" in value or value.endswith((".csv", ".parquet", ".pq"))


def _set_dotted(raw: dict, dotted: str, value: Any, origin: str) -> None:
    keys = dotted.split(".")
    node = raw
    for depth, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            where = ".".join(keys[: depth + 1])
            raise UserError(f"override '{dotted}': '{where}' in {origin} is a value, "
                            "not a section; override it directly")
        node = child
    node[keys[-1]] = value


def _explain(err: ValidationError, origin: str) -> str:
    lines = [f"{origin} is not a valid trainwise config:"]
    for problem in err.errors():
        where = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "extra_forbidden":
            lines.append(f"  - {where}: unknown key{_did_you_mean(problem['loc'])}")
        elif problem["type"] == "missing":
            lines.append(f"  - {where}: required; add it to the config")
        elif not where:
            # A rule across sections (its message names the keys): the input is the whole config.
            lines.append(f"  - {problem['msg'].removeprefix('Value error, ')}")
        else:
            message = problem["msg"].removeprefix("Value error, ")
            lines.append(f"  - {where}: {message} (got {problem.get('input')!r})")
    lines.append("Fix these keys in the file or in the key=value overrides.")
    return "\n".join(lines)


def _did_you_mean(loc: tuple) -> str:
    """Suggest the closest declared key for a misspelt one, walking the schema along loc."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    valid = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{hint} Valid keys here: {', '.join(valid)}"
