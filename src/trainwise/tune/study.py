"""The Optuna study a search works on: where it is stored, how it samples and prunes, and a
check that every worker joining it searches the same thing.

The storage is an ``RDBStorage`` with Optuna's heartbeat: each worker marks its running trials
alive every ``tune.heartbeat_s``; a trial not marked for ``tune.grace_s`` belongs to a worker
that died, and the next worker to claim a trial marks it FAIL (see ``worker.py``).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
import sqlalchemy

from trainwise.callbacks.monitor import resolve_mode
from trainwise.config.schema import Config, TuneConfig
from trainwise.errors import UserError
from trainwise.tune.lock import StudyLock
from trainwise.tune.space import base_config, flatten

DEFAULT_STORAGE = "tune.db"  # under the runs folder
STUDY_ATTR = "trainwise"  # the study's user attr holding what it searches


@dataclass
class Storage:
    """Where a study lives: the SQLAlchemy URL, the one to show (no password), the lock."""

    url: str
    shown: str
    lock: StudyLock


def resolve_storage(setting: str | None, runs_dir: Path) -> Storage:
    """``tune.storage`` as a URL: a SQLite file path (default ``<runs_dir>/tune.db``), a
    ``sqlite:///`` URL or a ``postgresql://`` URL (driven by psycopg 3).

    Raises:
        UserError: any other kind of URL.
    """
    if setting is None or "://" not in setting:
        path = Path(setting) if setting else runs_dir / DEFAULT_STORAGE
        path.parent.mkdir(parents=True, exist_ok=True)
        url = sqlalchemy.engine.make_url(f"sqlite:///{path.resolve()}")
    else:
        url = sqlalchemy.engine.make_url(setting)
        if url.get_backend_name() == "postgresql":
            url = url.set(drivername="postgresql+psycopg")  # psycopg 3, not psycopg2
        elif url.get_backend_name() != "sqlite":
            raise UserError(f"tune.storage: '{url.render_as_string()}' is neither a SQLite file "
                            "nor a postgresql:// URL; give a file path (one machine) or "
                            "postgresql://user@host/db (several machines)")
    text = url.render_as_string(hide_password=False)
    return Storage(text, url.render_as_string(hide_password=True), StudyLock(text))


def direction(cfg: Config) -> str:
    """'minimize' or 'maximize', from the monitored metric (``train.early_stopping``)."""
    stopping = cfg.train.early_stopping
    return "maximize" if resolve_mode(stopping.monitor, stopping.mode) == "max" else "minimize"


def connect(block: TuneConfig, storage: Storage, on_abandoned) -> optuna.storages.RDBStorage:
    """The storage with the heartbeat on (creating its tables if new).

    Args:
        on_abandoned: called with (study, frozen trial) for every trial found abandoned.
    """
    with warnings.catch_warnings():
        # The heartbeat arguments are "experimental" in Optuna; they are what we rely on.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        kwargs = {"connect_args": {"timeout": 60}} if storage.url.startswith("sqlite") else \
            {"pool_pre_ping": True}
        with storage.lock:  # two workers creating the tables at once would collide
            return optuna.storages.RDBStorage(
                storage.url, engine_kwargs=kwargs, heartbeat_interval=block.heartbeat_s,
                grace_period=block.grace_s, heartbeat_stale_trial_callback=on_abandoned)


def open_study(cfg: Config, block: TuneConfig, name: str, storage: Storage,
               rdb: optuna.storages.RDBStorage) -> optuna.Study:
    """Create the study, or join it when another worker (or an earlier run) created it.

    Raises:
        UserError: the study exists but searches a different config, space or direction.
    """
    with storage.lock:
        study = optuna.create_study(storage=rdb, study_name=name, load_if_exists=True,
                                    direction=direction(cfg), sampler=_sampler(block),
                                    pruner=_pruner(block, cfg.train.epochs))
        _check_same_search(study, cfg, block, name)
    return study


def _sampler(block: TuneConfig) -> optuna.samplers.BaseSampler:
    if block.sampler == "random":
        return optuna.samplers.RandomSampler(seed=block.seed)
    # constant_liar: trials still running (other workers, a batch) count as bad guesses, so
    # several asks in a row do not all land on the same promising point.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=block.seed, constant_liar=True)


def _pruner(block: TuneConfig, epochs: int) -> optuna.pruners.BasePruner:
    if block.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=block.startup_trials,
                                           n_warmup_steps=block.warmup_epochs)
    if block.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, block.warmup_epochs),
                                              max_resource=max(epochs, 2))
    return optuna.pruners.NopPruner()


def _check_same_search(study: optuna.Study, cfg: Config, block: TuneConfig, name: str) -> None:
    """Workers on one study must search one thing; record it, or compare with the record.

    Absolute paths are left out of the comparison: data may sit elsewhere on another machine.
    """
    mine = _search_record(cfg, block)
    recorded = study.user_attrs.get(STUDY_ATTR)
    if recorded is None:
        study.set_user_attr(STUDY_ATTR, mine)
        return
    differing = sorted(key for key in mine.keys() | recorded.keys()
                       if mine.get(key) != recorded.get(key))
    if study.direction.name.lower() != direction(cfg):
        differing.insert(0, f"direction ({study.direction.name.lower()} there)")
    if differing:
        raise UserError(f"tune.study: the study '{name}' already exists and searches something "
                        f"else (it differs in {', '.join(differing[:8])}); run this config "
                        "under a new name (--study NAME), or use the study's own config")


def _search_record(cfg: Config, block: TuneConfig) -> dict:
    config = {key: value for key, value in flatten(base_config(cfg)).items()
              if key != "name" and not (isinstance(value, str) and value.startswith("/"))}
    space = {f"space.{key}": dimension.model_dump(mode="json")
             for key, dimension in block.space.items()}
    # Round-tripped through JSON as the storage does, so a fresh record compares equal.
    return json.loads(json.dumps({**config, **space}))
