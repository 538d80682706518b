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
import re
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
        return {str(key).replace("__", "."): value for key, value in overrides.items()}
    parsed = {}
    for item in overrides:
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip():
            raise UserError(f"override '{item}' is not of the form key=value, "
                            "e.g. train.lr=0.003 or model.hidden=[64,64]")
        if not all(part.strip() for part in key.split(".")):
            raise UserError(f"override '{item}': the key '{key.strip()}' has an empty part; "
                            "keys are section names joined by single dots, e.g. train.lr=0.003")
        parsed[key.strip()] = _override_value(key.strip(), text) if text.strip() else None
    return parsed


def _override_value(key: str, text: str) -> Any:
    """An override's value, parsed as YAML (so 0.003 is a number and [1,2] a list)."""
    try:
        return yaml.safe_load(text)
    # ValueError: YAML that scans but cannot be built, such as the date 2024-02-30.
    except (yaml.YAMLError, ValueError, RecursionError) as err:
        problem = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(
            f"override '{key}={text}': the value is not valid YAML ({problem}). Complete it "
            f"(e.g. {key}=[1,2]), or quote it to pass it as text: for the shell put the whole "
            f"override in single quotes, and the value in double quotes for YAML, e.g. "
            f"'{key}=\"{text}\"'."
        ) from None


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"config file '{path}' does not exist; check the path "
                        "(examples live in examples/, e.g. examples/auto_mpg.yaml)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise UserError(f"config file '{path}' is not UTF-8 text ({err.reason} at byte "
                        f"{err.start}); save it as UTF-8 YAML.") from None
    # ValueError: YAML that scans but cannot be built, such as the date 2024-02-30.
    except (yaml.YAMLError, ValueError, RecursionError) as err:
        raise UserError(f"config file '{path}' is not valid YAML: {err}. "
                        "Fix the indentation or quoting at the position shown.") from None
    if not isinstance(raw, dict):
        raise UserError(f"config file '{path}' must be a mapping of sections "
                        f"(data:, model:, train:, ...), not {_kind(raw)}; start it with "
                        "'data:' and indent the section's keys below it")
    return raw


def _kind(raw: Any) -> str:
    """What a YAML document is, in the user's words: 'an empty file', 'a list'..."""
    if raw is None:
        return "an empty document"
    return {list: "a list", str: "a single text value"}.get(type(raw),
                                                             f"a {type(raw).__name__}")


def _anchor_paths(raw: dict, folder: Path) -> None:
    """Make relative data file paths relative to the config file, as a user reads them."""
    data = raw.get("data")
    if not isinstance(data, dict):
        return
    split = data.get("split") if isinstance(data.get("split"), dict) else {}
    raster = data.get("raster") if isinstance(data.get("raster"), dict) else {}
    scenes = [entry for entry in raster.get("scenes") or [] if isinstance(entry, dict)]
    for section, key in ((data, "source"), (data, "index"), (data, "cache_dir"),
                         (split, "val_file"), (split, "test_file"), (raster, "labels"),
                         (raster, "points"), (raster, "classes"), *((entry, "image") for entry in scenes),
                         *((entry, "labels") for entry in scenes)):
        value = section.get(key)
        if isinstance(value, str) and _looks_like_path(value) and not Path(value).is_absolute():
            # Absolute, so the run record's config still finds the file from any folder.
            candidate = folder / value
            chosen = candidate if candidate.exists() or not Path(value).exists() else Path(value)
            section[key] = str(chosen.resolve())


def _looks_like_path(value: str) -> bool:
    return "/" in value or value.endswith((".csv", ".parquet", ".pq", ".npz", ".npy", ".tif",
                                           ".tiff"))


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
    for problem in _problems(err):
        where = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "extra_forbidden":
            lines.append(f"  - {where}: unknown key{_did_you_mean(problem['loc'])}")
        elif problem["type"] == "missing":
            lines.append(f"  - {where}: required; add it to the config")
        elif problem["type"] == "finite_number":
            lines.append(f"  - {where}: must be a finite number{problem['or_else']}, not "
                         f"{problem.get('input')!r}; NaN and infinity (.nan, .inf, 1e999) are "
                         "not valid settings")
        elif not where:
            # A rule across sections (its message names the keys): the input is the whole config.
            lines.append(f"  - {problem['msg'].removeprefix('Value error, ')}")
        else:
            message = problem["msg"].removeprefix("Value error, ")
            lines.append(f"  - {where}: {message} (got {_short(problem.get('input'))})")
    lines.append("Fix these keys in the file or in the key=value overrides.")
    return "\n".join(lines)


def _problems(err: ValidationError) -> list[dict]:
    """pydantic's errors, one per key where a NaN or infinity is the reason.

    A value refused by every member of a union (``float | Literal['auto']``) gives one error
    per member, with the member's name in its location (``train.lr.float``). When one says
    the number is not finite, that is the reason; the others are noise, except that an
    accepted literal is worth naming ("a finite number or 'auto'").
    """
    problems = [problem if problem["type"] in ("extra_forbidden", "missing")  # keys, as written
                else dict(problem, loc=_key_path(problem["loc"])) for problem in err.errors()]
    finite_keys = {problem["loc"] for problem in problems if problem["type"] == "finite_number"}
    kept, seen = [], set()
    for problem in problems:
        loc = problem["loc"]
        if problem["type"] != "finite_number":
            # Another member's complaint about the same key (or the section holding it).
            if not any(key[: len(loc)] == loc for key in finite_keys):
                kept.append(problem)
            continue
        if loc not in seen:
            seen.add(loc)
            literals = [other["ctx"]["expected"] for other in problems
                        if other["loc"] == problem["loc"] and other["type"] == "literal_error"]
            problem["or_else"] = "".join(f" or {literal}" for literal in literals)
            kept.append(problem)
    return kept


def _key_path(loc: tuple) -> tuple:
    """``loc`` without the union members' names pydantic puts in it (``float``,
    ``literal['auto']``, ``dict[str,float]``): what remains are the config's keys."""
    return tuple(part for part in loc if not (isinstance(part, str) and _UNION_MEMBER.match(part)))


# The names pydantic gives union members in an error's location; config keys are snake_case
# words, so none of them looks like this.
_UNION_MEMBER = re.compile(r"^(float|int|str|bool|none|\w+\[.*\]|function-\w+\[.*\]|"
                           r"[A-Z]\w*Config)$")


def _short(value: Any, limit: int = 200) -> str:
    """A value's repr, cut short: the input may be a whole section of nested junk."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _did_you_mean(loc: tuple) -> str:
    """Suggest the closest declared key for a misspelt one, walking the schema along loc."""
    if not loc:
        return ""
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
