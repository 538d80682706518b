"""Experiment-tracker loggers (``tracking.loggers``): which exist, the check that their extra is
installed, and the pieces they share (a flat view of the config, the run's final numbers).

TensorBoard and MLflow are optional and heavy to import (MLflow ~2 s), so nothing here imports
them until a config asks for one.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from trainwise.callbacks.base import Callback
from trainwise.errors import UserError

if TYPE_CHECKING:
    from trainwise.config.schema import Config
    from trainwise.tracking.run_dir import RunDirectory

# What each logger imports, and the extra that installs it.
REQUIRES = {"tensorboard": "tensorboard.summary.writer.record_writer",
            "mlflow": "mlflow.tracking"}


class RunLogger(Callback):
    """A callback that mirrors the run into a tracker; ``log_record`` adds what the session
    writes after training (final metrics, plots, findings), which no hook sees."""

    name = "logger"

    def log_record(self, run_path: Path) -> None:
        """Log the finished run record in ``run_path``."""


def require_loggers(cfg: Config) -> None:
    """Import each logger ``tracking.loggers`` names, before any run folder exists.

    Raises:
        UserError: one is not installed; names the extra that installs it.
    """
    for name in cfg.tracking.loggers:
        try:
            importlib.import_module(REQUIRES[name])
        except ImportError as err:
            raise UserError(f"tracking.loggers lists '{name}', which is not installed ({err}); "
                            f"install it with: pip install 'trainwise[{name}]', or remove "
                            f"'{name}' from tracking.loggers") from err


def build_loggers(cfg: Config, run_dir: RunDirectory) -> list[RunLogger]:
    """The loggers ``tracking.loggers`` asks for, writing ``run_dir``'s run."""
    from trainwise.callbacks.mlflow_logger import MLflowLogger
    from trainwise.callbacks.tensorboard_logger import TensorBoardLogger

    require_loggers(cfg)  # again: a resume opens its session without ``open_session``
    tracking, loggers = cfg.tracking, []
    if "tensorboard" in tracking.loggers:
        folder = (Path(tracking.tensorboard_dir).resolve() / run_dir.run_id
                  if tracking.tensorboard_dir else run_dir.path / "tensorboard")
        loggers.append(TensorBoardLogger(folder, run_dir.path))
    if "mlflow" in tracking.loggers:
        uri = tracking.mlflow_uri or f"sqlite:///{run_dir.path.parent.resolve() / 'mlflow.db'}"
        loggers.append(MLflowLogger(uri, tracking.mlflow_experiment or cfg.name, run_dir.path))
    return loggers


def log_run_record(callbacks: list[Callback], run_path: Path) -> None:
    """Each logger among ``callbacks`` logs the run's final record.

    A tracker that refuses (a server gone away) costs a warning, not the run: the run folder
    already holds the whole record, and ``trainwise show`` reads it.
    """
    for callback in callbacks:
        if isinstance(callback, RunLogger):
            try:
                callback.log_record(run_path)
            except Exception as err:  # noqa: BLE001 -- any tracker failure; the record is safe
                warnings.warn(f"could not log the run record to {callback.name}: {err}",
                              stacklevel=2)


def flat_config(config: dict, prefix: str = "") -> dict[str, str | int | float | bool]:
    """``{"train": {"lr": 0.001}}`` as ``{"train.lr": 0.001}``: trackers take flat
    hyper-parameters of plain types, so lists and None become text."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flat_config(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def epoch_steps(batch_history: list[dict], epoch: int) -> list[dict]:
    """The rows of ``batch_history`` from ``epoch`` (they are its last ones): read from the
    end, so an epoch costs its own steps, however long the run."""
    rows = []
    for row in reversed(batch_history):
        if row["epoch"] != epoch:
            break
        rows.append(row)
    return rows[::-1]


def final_numbers(metrics: dict) -> dict[str, float]:
    """metrics.json's numbers per split, ``{"test": {"mae": 1.9}}`` as ``{"test_mae": 1.9}``
    (confusion matrices and other non-numbers left out)."""
    return {f"{split}_{key}": float(value)
            for split, values in metrics.items() for key, value in values.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}
