"""Report a trial's monitored value to Optuna every epoch, and stop the run when the pruner
says the trial is hopeless."""

from __future__ import annotations

import math

import optuna

from trainwise.callbacks.base import Callback


class ReportToTrial(Callback):
    """Sends ``monitor`` after each epoch to ``trial``; stops training when it should be pruned.

    Stopping is the callbacks' ordinary way (``stop_training``), so the run still ends with its
    whole record (best weights, metrics) and status ``finished``, its stop reason saying why.

    Args:
        trial: the Optuna trial this run is.
        monitor: the history key the study optimises (``train.early_stopping.monitor``).

    Example:
        >>> session = open_session(cfg, "runs", callbacks=[ReportToTrial(trial, "val_loss")])
        ...                                                                # doctest: +SKIP
    """

    def __init__(self, trial: optuna.Trial, monitor: str):
        self.trial = trial
        self.monitor = monitor
        self.pruned_at: int | None = None  # the epoch after which the trial was pruned

    def on_train_begin(self, trainer) -> None:
        self.pruned_at = None

    def on_epoch_end(self, trainer, record: dict) -> None:
        value = record.get(self.monitor)
        if value is None or math.isnan(value):
            return  # a NaN is the NaN guard's to handle; Optuna cannot compare it
        self.trial.report(value, record["epoch"])
        if trainer.state.stop_training:
            return  # stopped already (early stopping): the trial completes on its own terms
        if self.trial.should_prune():
            self.pruned_at = record["epoch"]
            trainer.state.stop_training = True
            trainer.state.stop_reason = (
                f"pruned by Optuna: {self.monitor} {value:.6g} at epoch {self.pruned_at} was "
                f"worse than the other trials' at that epoch (trial {self.trial.number})")
