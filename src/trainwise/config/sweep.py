"""The ``sweep`` section: a grid of runs from one config (``trainwise sweep``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from trainwise.config.section import Section


class SweepConfig(Section):
    """Many runs from one config: ``trainwise sweep`` (or ``trainwise.sweep``) trains one run per
    grid point and seed; ``trainwise train`` ignores this block."""

    # Config paths to their values, e.g. {"train.lr": [0.01, 0.001], "model.dropout": [0, 0.2]};
    # every combination is one point.
    grid: dict[str, list] = {}
    # Repeat every point with this many seeds (train.seed, +1, +2, ...) on one data split.
    seeds: int = Field(1, ge=1)
    # auto: as one batched model when the runs differ only in what a batched model can vary
    # (learning rate, weight decay, dropout, seed), else one after another. batched: that or
    # an error saying why not. sequential / parallel: separate runs (parallel in processes).
    mode: Literal["auto", "batched", "sequential", "parallel"] = "auto"
    workers: int = Field(2, ge=1)  # processes for mode: parallel
