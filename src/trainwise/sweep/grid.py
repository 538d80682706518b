"""The runs of a sweep: every combination of the grid's values, each repeated over seeds.

A grid comes from ``--grid train.lr=0.01,0.001`` options or a config's ``sweep:`` block; each
member of the sweep is one ordinary run whose config is the base config with that member's
values set, so any member can be retrained alone with ``trainwise train``.

Example:
    >>> parse_grid_option("model.hidden=[32,32],[64,64]")
    ('model.hidden', [[32, 32], [64, 64]])
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import yaml

from trainwise.config.load import load_config
from trainwise.config.schema import Config
from trainwise.data.split import split_seed
from trainwise.errors import UserError


@dataclass(frozen=True)
class SweepMember:
    """One run of a sweep.

    Attributes:
        index: its position among all members (0-based).
        point: its grid point (members of one point differ only by seed).
        values: the grid's values for this point, by config path.
        seed: its ``train.seed``.
        config: its whole validated config (``sweep`` removed).
    """

    index: int
    point: int
    values: dict[str, Any]
    seed: int
    config: Config

    @property
    def label(self) -> str:
        """The point's values in short form, e.g. ``lr=0.01 dropout=0.2``."""
        return " ".join(f"{key.rsplit('.', 1)[-1]}={_short(value)}"
                        for key, value in self.values.items()) or "base"


def parse_grid_option(option: str) -> tuple[str, list]:
    """``"key=v1,v2"`` -> ``("key", [v1, v2])``; values are YAML (lists in brackets stay whole).

    Raises:
        UserError: no ``=``, no values, or values that are not valid YAML.
    """
    key, sep, text = option.partition("=")
    key = key.strip()
    if not sep or not key or not text.strip():
        raise UserError(f"--grid '{option}' is not of the form key=value1,value2, "
                        "e.g. --grid train.lr=0.01,0.001")
    try:
        values = yaml.safe_load(f"[{text}]")  # a flow sequence: commas inside [..] stay put
    except yaml.YAMLError as err:
        raise UserError(f"--grid '{option}': the values are not valid YAML ({err}); separate "
                        "them with commas, e.g. model.hidden=[32,32],[64,64]") from None
    return key, [_number_if_numeric(value) for value in values]


def _number_if_numeric(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` as a string; a rate written that way is meant as a number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def grid_from_options(options: list[str]) -> dict[str, list]:
    """The grid of several ``--grid`` options (a key given twice is an error)."""
    grid: dict[str, list] = {}
    for option in options:
        key, values = parse_grid_option(option)
        if key in grid:
            raise UserError(f"--grid {key} is given twice; list all its values in one option")
        grid[key] = values
    return grid


def expand(base: Config, grid: dict[str, list], seeds: int) -> list[SweepMember]:
    """Every member: the grid's points in order (last key varying fastest), each over ``seeds``.

    With ``seeds`` > 1 the members of a point take ``train.seed``, +1, ... and share the base
    config's data split (``data.split.seed`` is pinned), so seeds vary the initial weights and
    the data order, not which rows are held out: a comparison of points on one split.

    Raises:
        UserError: an empty value list, a grid key under ``sweep``, or a member's config that
            does not validate (named by its values).
    """
    for key, values in grid.items():
        if key == "sweep" or key.startswith("sweep."):
            raise UserError(f"sweep.grid: '{key}' cannot be swept; grid keys are config paths "
                            "such as train.lr or model.dropout")
        if not isinstance(values, list) or not values:
            raise UserError(f"sweep.grid: '{key}' needs a non-empty list of values, "
                            f"e.g. {key}: [0.01, 0.001]")
    raw = base.model_dump(mode="json", exclude={"sweep"})
    pinned = {"data.split.seed": split_seed(base)} if seeds > 1 and \
        "data.split.seed" not in grid else {}
    members = []
    keys = list(grid)
    for point, combination in enumerate(itertools.product(*grid.values())):
        values = dict(zip(keys, combination))
        first_seed = values.get("train.seed", base.train.seed)
        for offset in range(seeds):
            seed = first_seed + offset
            overrides = {**pinned, **values, "train.seed": seed,
                         "name": _member_name(base.name, values, seed, seeds)}
            try:
                config = load_config(raw, overrides)
            except UserError as err:
                raise UserError(f"sweep point {_describe(values)}: {err}") from None
            members.append(SweepMember(len(members), point, values, seed, config))
    return members


def _member_name(base: str, values: dict, seed: int, seeds: int) -> str:
    parts = [f"{key.rsplit('.', 1)[-1]}{_short(value)}" for key, value in values.items()]
    if seeds > 1:
        parts.append(f"seed{seed}")
    return "-".join([base, *parts])


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True)
    return re.sub(r"\s+", "", str(text)).removesuffix("...").strip()


def _describe(values: dict) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in values.items()) or "(base)"
