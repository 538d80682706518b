"""The ``tune`` section: a hyper-parameter search over one config (``trainwise tune``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from trainwise.config.section import Section


class SearchDimension(Section):
    """One searched config key: a range (``low``, ``high``, optionally ``log`` or ``step``) or a
    list of ``choices``. Whole numbers are drawn for keys whose value is an integer."""

    low: float | None = None  # smallest value tried
    high: float | None = None  # largest value tried
    log: bool = False  # draw uniformly in log space (rates, decays); needs low above 0
    step: float | None = None  # draw only low, low + step, ... (not with log)
    choices: list[Any] | None = None  # the values to choose from, instead of a range

    @model_validator(mode="after")
    def _check_shape(self) -> SearchDimension:
        ranged = self.low is not None or self.high is not None or self.log or self.step
        if self.choices is not None:
            if ranged:
                raise ValueError("give either choices (a list) or low/high (a range), not both")
            if not self.choices:
                raise ValueError("choices is empty; list at least one value")
            return self
        if self.low is None or self.high is None:
            raise ValueError("needs low and high (a range, e.g. {low: 1e-4, high: 1e-1, log: "
                             "true}) or choices (a list, e.g. {choices: [16, 32]})")
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low above 0 (got {self.low}); raise low or set "
                             "log: false")
        if self.step is not None and self.step <= 0:
            raise ValueError(f"step ({self.step}) must be above 0")
        if self.step is not None and self.log:
            raise ValueError("step and log: true cannot be combined; choose one")
        return self


class TuneConfig(Section):
    """A search over the config's own keys: ``trainwise tune`` trains one run per trial;
    ``trainwise train`` ignores this block. The direction follows
    ``train.early_stopping.monitor`` and its mode."""

    # Config paths to their search, e.g. {"train.lr": {low: 1e-4, high: 1e-1, log: true},
    # "model.hidden": {choices: [[32], [64, 64]]}}.
    space: dict[str, SearchDimension] = Field(default_factory=dict)
    trials: int = Field(20, ge=1)  # finished trials wanted, counted over every worker
    sampler: Literal["tpe", "random"] = "tpe"  # how the next parameters are chosen
    seed: int | None = None  # the sampler's seed (one worker repeats; leave unset for several)
    pruner: Literal["median", "hyperband", "none"] = "median"  # stop hopeless trials early
    startup_trials: int = Field(5, ge=0)  # the median pruner waits for this many trials
    warmup_epochs: int = Field(5, ge=0)  # never prune before this epoch
    # A SQLite file or a postgresql:// URL (several machines on one study); None:
    # <runs_dir>/tune.db.
    storage: str | None = None
    study: str | None = None  # the study's name; None: the config's name
    batch: int = Field(1, ge=1)  # trials asked at once (one batched model when they allow)
    heartbeat_s: int = Field(10, ge=1)  # a worker marks its trials alive this often (seconds)
    grace_s: int = Field(60, ge=1)  # a trial not marked alive for this long is FAIL

    @model_validator(mode="after")
    def _check_grace(self) -> TuneConfig:
        if self.grace_s <= self.heartbeat_s:
            # A live trial would be declared dead between two beats.
            raise ValueError(f"grace_s ({self.grace_s}) must be above heartbeat_s "
                             f"({self.heartbeat_s}); e.g. grace_s: {3 * self.heartbeat_s}")
        return self
