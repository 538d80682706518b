"""The ``tracking`` section: experiment trackers a run also logs to, and its progress lines."""

from __future__ import annotations

from pydantic import Field, field_validator

from trainwise.config.section import Section, one_of

# Loggers a run can write to, each behind its own extra (pip install 'trainwise[<name>]').
LOGGERS = ("tensorboard", "mlflow")


class TrackingConfig(Section):
    """Where a run is reported besides its own folder: TensorBoard, MLflow, progress lines.

    Example:
        >>> TrackingConfig(loggers=["tensorboard"]).loggers
        ['tensorboard']
    """

    loggers: list[str] = []  # tensorboard and/or mlflow; each needs its extra installed
    # TensorBoard event files; None: <run dir>/tensorboard. A folder given here is shared:
    # each run writes <folder>/<run id>, so `tensorboard --logdir <folder>` compares runs.
    tensorboard_dir: str | None = None
    # MLflow tracking URI (http://host:5000, sqlite:///path/mlflow.db); None:
    # sqlite:///<runs dir>/mlflow.db (MLflow's plain-file store is in maintenance mode).
    mlflow_uri: str | None = None
    mlflow_experiment: str | None = None  # MLflow experiment; None: the config's name
    # Off a terminal (log files, CI): one progress line per this many epochs; None: about
    # ten lines per run.
    progress_every: int | None = Field(None, ge=1)

    @field_validator("loggers")
    @classmethod
    def _known_loggers(cls, loggers: list[str]) -> list[str]:
        for name in loggers:
            one_of(name, LOGGERS, "logger")
        if len(set(loggers)) != len(loggers):
            raise ValueError(f"names a logger twice: {loggers}; list each once")
        return loggers
