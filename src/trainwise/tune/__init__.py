"""Hyper-parameter search with Optuna: every trial a trainwise run, any number of workers on
one study (a SQLite file on one machine, PostgreSQL across machines).

Example:
    >>> result = tune("examples/auto_mpg.yaml", trials=20)           # doctest: +SKIP
    >>> result.best["params"], result.best["run"]                    # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from trainwise.config.load import load_config, parse_overrides
from trainwise.config.schema import Config, TuneConfig
from trainwise.errors import UserError
from trainwise.tune.results import TUNE_FOLDER, TuneResult, summarize
from trainwise.tune.space import check_space
from trainwise.tune.study import connect, open_study, resolve_storage
from trainwise.tune.worker import Search, report_abandoned, work

__all__ = ["TUNE_FOLDER", "TuneResult", "prepare_search", "show", "tune"]


def tune(config: str | Path | dict | Config, overrides: list[str] | dict | None = None, *,
         runs_dir: str | Path = "runs", progress: bool = True, **settings) -> TuneResult:
    """Work on the config's study until it has ``tune.trials`` trials, then write its results.

    Start the same call (or ``trainwise tune``) in several processes or machines on one
    ``storage`` to share the work.

    Args:
        config: a YAML path, dict or Config with a ``tune:`` block.
        overrides: applied to the config first, like ``trainwise train``'s.
        runs_dir: where the trials' runs, the default SQLite storage and the results go.
        progress: show progress.
        **settings: ``tune`` keys given on the command line (trials, storage, study, batch),
            overriding the block's; None leaves the block's value.

    Raises:
        UserError: no ``tune`` block or space, a bad key or range, a study that searches
            something else, or a trial whose run could not start.
        RunFailed: a trial's training raised (that trial is FAIL).
    """
    search = prepare_search(config, overrides, runs_dir, progress, settings)
    outcomes = work(search)
    if progress and not outcomes:
        print(f"tune: the study '{search.name}' already has its {search.block.trials} trials; "
              "raise --trials to run more")
    return summarize(search.study, Path(runs_dir), search.cfg.train.early_stopping.monitor)


def show(config: str | Path | dict | Config, overrides: list[str] | dict | None = None, *,
         runs_dir: str | Path = "runs", **settings) -> TuneResult:
    """The results of the config's study as they stand, without training."""
    search = prepare_search(config, overrides, runs_dir, False, settings)
    return summarize(search.study, Path(runs_dir), search.cfg.train.early_stopping.monitor)


def prepare_search(config, overrides, runs_dir: str | Path, progress: bool,
                   settings: dict) -> Search:
    """Load and check the config, then connect to (or create) its study."""
    cfg = load_config(config, parse_overrides(overrides))
    if cfg.tune is None:
        raise UserError("the config has no tune: block; add one with the keys to search, e.g. "
                        "tune: {space: {train.lr: {low: 1.0e-4, high: 1.0e-1, log: true}}}")
    given = {key: value for key, value in settings.items() if value is not None}
    try:
        block = TuneConfig.model_validate({**cfg.tune.model_dump(), **given})
    except ValueError as error:
        raise UserError(f"tune: {error}") from None
    check_space(cfg, block.space)
    storage = resolve_storage(block.storage, Path(runs_dir))
    name = block.study or cfg.name
    rdb = connect(block, storage, report_abandoned)
    study = open_study(cfg, block, name, storage, rdb)
    return Search(cfg, block, name, storage, rdb, study, Path(runs_dir), progress)
