"""Train a run from a config, or resume one, and leave a complete run record behind.

This is the one entry point behind ``trainwise train``/``resume``, ``trainwise.fit`` and the
dashboard. Everything that can fail because of the user's input (config, data, checkpoints
to start from) is checked before the run directory is created, so a mistake leaves nothing
half-written behind.

Example:
    >>> run = fit("examples/auto_mpg.yaml", {"train.epochs": 5})    # doctest: +SKIP
    >>> run.metrics["test"]["mae"]                                    # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_file, save

from trainwise.atomic import write_atomic
from trainwise.baselines import compute_baselines
from trainwise.callbacks import (
    Callback,
    DeadUnitMonitor,
    EarlyStopping,
    ModelCheckpoint,
    ProgressBar,
    PseudoLabel,
    RunRecorder,
    TerminateOnNaN,
)
from trainwise.callbacks.confusion_recorder import CONFUSION_FILE, ValidationConfusion
from trainwise.callbacks.freeze import FreezeSchedule
from trainwise.callbacks.run_control import RunControl
from trainwise.callbacks.monitor import Monitor, resolve_mode
from trainwise.callbacks.nan_guard import diverged
from trainwise.config.load import load_config, parse_overrides
from trainwise.config.schema import Config
from trainwise.data.prepare import PreparedData, prepare_data
from trainwise.data.preprocess import Preprocessor
from trainwise.diagnostics import diagnose_run
from trainwise.errors import UserError
from trainwise.fused import Eligibility, FusedStep, fused_eligibility
from trainwise.models.build import build_model
from trainwise.models.summary import summarize_model
from trainwise.reports.plots import write_plots
from trainwise.run import MODEL_FILE, Run, evaluate_outputs, prediction_rows
from trainwise.tracking.run_dir import RunDirectory, resolve_run
from trainwise.tracking.failure import classify
from trainwise.tracking.liveness import Heartbeat
from trainwise.tracking.run_control import this_process
from trainwise.tracking.store import RunStore
from trainwise.training.batches import InMemoryBatches
from trainwise.training.stream_batches import StreamingBatches
from trainwise.training.checkpoint import load_weights_into
from trainwise.reports.lr_finder_plot import plot_lr_finder
from trainwise.training.interrupt import ReceivedSignal, stop_on_interrupt
from trainwise.training.lr_finder import LRFinderResult, lr_range_test
from trainwise.training.losses import balanced_class_weights, build_loss
from trainwise.training.losses.class_factors import focal_alpha_values, per_class_values
from trainwise.training.samplers import build_sampler
from trainwise.training.penalty import WeightPenalty
from trainwise.training.optim import build_optimizer
from trainwise.training.running_metric import RunningMetric
from trainwise.training.schedules import build_schedule, optimizer_steps_per_epoch
from trainwise.training.param_groups import lr_groups
from trainwise.training.trainer import Trainer
from trainwise.training.transfer import REPORT_FILE as INIT_REPORT_FILE
from trainwise.training.transfer import describe_init_report, load_matching_weights
from trainwise.uncertainty import (distribution_rows, evaluate_distribution,
                                   gp_baseline_metrics, predictive_parts)
from trainwise.yaml_io import dump_yaml

STORE_FILE = "trainwise.db"
# Per-site runs: each held-out measurement with its site's predicted Normal (calibration plots).
MEASUREMENT_PREDICTIONS_FILE = "measurement_predictions.csv"
# The learning rate when train.lr: auto finds no trustworthy suggestion (Adam's usual default).
DEFAULT_LR = 1e-3


def fit(config: str | Path | dict | Config, overrides: list[str] | dict | None = None, *,
        runs_dir: str | Path = "runs", progress: bool = True, callbacks: list[Callback] = (),
        **keyword_overrides) -> Run:
    """Train a new run and return it.

    Args:
        config: a YAML path, a dict, or a Config.
        overrides: ``["train.lr=0.003"]`` or ``{"train.lr": 0.003}``.
        runs_dir: where the run directory and the run store go.
        progress: show the progress bar.
        callbacks: your own callbacks, called after the built-in ones (their state is saved
            in the checkpoints too).
        **keyword_overrides: overrides with ``__`` for dots, e.g. ``train__epochs=20``.

    Returns:
        The Run, with its history, metrics and a model ready to predict.

    Raises:
        UserError: bad config, data or starting weights (nothing is written then).
    """
    merged = {**parse_overrides(overrides), **{k.replace("__", "."): v for k, v in keyword_overrides.items()}}
    cfg = load_config(config, merged)
    return open_session(cfg, runs_dir, progress, list(callbacks)).train()


def open_session(cfg: Config, runs_dir: str | Path, progress: bool = True,
                 callbacks: list[Callback] = (), data: PreparedData | None = None,
                 run_dir: RunDirectory | None = None) -> Session:
    """Check everything, create the run directory with its opening record, and assemble the
    session that trains it (``fit`` is this and ``train()``; a batched sweep drives several).

    Args:
        cfg: the validated config.
        runs_dir: where the run directory and the run store go.
        progress: show the progress bar.
        callbacks: the user's callbacks.
        data: data already prepared for this very config (a sweep shares one copy), or None.
        run_dir: an existing run to open again from its start, its lock held (``resume`` of
            a run killed before its first checkpoint); None: a new run directory.

    Raises:
        UserError: bad config, data or starting weights (nothing is written then).
    """
    seed_everything(cfg)
    source_prep, init_weights = _init_from(cfg, runs_dir)
    if data is None:
        data = prepare_run_data(cfg, source_prep)
    _check_class_factors(cfg, data.preprocessor.classes)
    device = _device(cfg.train.device)
    model = build_model(cfg.model, data.arrays["train"][0].shape[1], data.preprocessor.n_outputs,
                        data.preprocessor.is_probabilistic)
    init_report = None if init_weights is None else _load_init_weights(model, init_weights, cfg)
    _check_parameter_patterns(model, cfg)
    model.to(device)
    with torch.random.fork_rng(devices=[]):  # the summary's forward pass must not move the RNG
        model_summary = summarize_model(model, data.arrays["train"][0].shape[1], str(device))

    if run_dir is None:
        run_dir = RunDirectory.create(runs_dir, cfg.name, lock=True)
    try:
        # First: a folder with a config.yaml is a run that `resume` can always train again.
        _write_config(run_dir, cfg)
        if cfg.train.lr == "auto":
            _choose_lr(cfg, data, model, device, run_dir, runs_dir, progress)
            _write_config(run_dir, cfg)  # with the rate chosen
        run_dir.write_json("manifest.json", _manifest(cfg, data, device))
        run_dir.write_json("preprocessing.json", data.preprocessor.to_dict())
        run_dir.write_json("model_summary.json", model_summary)
        if init_report is not None:
            run_dir.write_json(INIT_REPORT_FILE, init_report)
            if progress:
                print(describe_init_report(init_report), file=sys.stderr)
        session = Session(cfg, data, model, device, run_dir, _store(runs_dir), progress,
                          list(callbacks))
        # Written once the session has resolved the class weights: they belong in the record.
        run_dir.write_json("data_summary.json", {**data.summary, **session.loss_notes()})
        session.record_manifest({"training_path": session.training_path})
    except BaseException:
        run_dir.release()
        raise
    return session


def _write_config(run_dir: RunDirectory, cfg: Config) -> None:
    run_dir.write_text("config.yaml", dump_yaml(cfg.model_dump(mode="json"), sort_keys=False))


@dataclass
class Session:
    """The pieces of one training session, assembled into a Trainer, and the record it leaves."""

    cfg: Config
    data: PreparedData
    model: torch.nn.Module
    device: torch.device
    run_dir: RunDirectory
    store: RunStore
    progress: bool
    user_callbacks: list[Callback]

    def __post_init__(self):
        self.trainer = self._build_trainer()
        # False: a run whose training had already ended when its last.pt was written (killed
        # while writing its final record) ends again without training (``resume``).
        self.continue_stopped = True
        self.received = ReceivedSignal()  # the signal that stopped training, if one did
        self.concluded = False
        self._heartbeat = Heartbeat(self.store, self.run_dir.run_id)

    def train(self, draw_plots: bool = True) -> Run:
        """Train (or continue) the run and leave its record (see ``conclude``); returns the Run.

        Raises:
            UserError: the run directory could not be written (a full disk); the run is
                ``failed`` and its last good checkpoint intact.
            RunFailed: training raised; the run is ``failed``, the traceback in error.log.
            KeyboardInterrupt: a second Ctrl-C; the run is ``interrupted`` and resumes.
        """
        try:
            self.begin()
            with stop_on_interrupt(self.trainer.state) as self.received:
                self.trainer.fit(continue_stopped=self.continue_stopped)
            return self.conclude(draw_plots)
        except BaseException as error:
            raised = self.fail(error)
            if raised is error:
                raise
            raise raised from error

    def begin(self, baselines: dict | None = None) -> dict:
        """Mark the run as running, in its files and in the store, with this process as the
        one training it (checked by ``tracking.liveness``), and start its heartbeat.

        Args:
            baselines: this data's baseline scores when already computed (the members of a
                batched sweep share data and task); None: compute them.

        Returns:
            The baselines written, if the run had none yet.
        """
        process = this_process()
        self.store.upsert_run(self.run_dir.run_id, name=self.cfg.name, task=self.cfg.task.type,
                              path=str(self.run_dir.path.resolve()), status="running",
                              reason=None, host=process["host"], pid=process["pid"],
                              process_ticks=process["start_ticks"],
                              heartbeat_at=process["started_at"])
        self._heartbeat.start()
        self._write_status("running")
        if not self.run_dir.exists("baselines.json"):
            baselines = self._baselines() if baselines is None else baselines
            self.run_dir.write_json("baselines.json", baselines)
        return baselines

    def fail(self, error: BaseException) -> BaseException:
        """Record the run as ended by ``error`` (``tracking.failure``) and close the session.

        Returns:
            The exception to raise: ``error`` itself, or the clearer one that replaces it.
        """
        failure = classify(error, self.run_dir.path, self.run_dir.run_id)
        try:
            self._write_status(failure.status, reason=failure.reason)
            self.store.upsert_run(self.run_dir.run_id, status=failure.status,
                                  reason=failure.reason)
        except Exception:  # noqa: BLE001 -- a full disk may refuse these too; say the first
            pass
        self.close()
        return failure.raised

    def close(self) -> None:
        """Stop the heartbeat, close the store and release the run's lock (idempotent)."""
        self._heartbeat.stop()
        self.store.close()
        self.run_dir.release()

    def record_manifest(self, fields: dict) -> None:
        """Add ``fields`` to the run's manifest.json."""
        self.run_dir.write_json("manifest.json", {**self.run_dir.read_json("manifest.json"),
                                                  **fields})

    def conclude(self, draw_plots: bool = True) -> Run:
        """The record of a session whose training has ended: history, and then the status,
        weights, metrics, plots and findings of a run that completed, or the status of one
        that was stopped, or the history and findings of one that diverged.

        Args:
            draw_plots: draw the PNG plots now; a sweep's members leave them to
                ``trainwise report`` (which draws missing plots), as dozens of PNGs would cost
                more than training them.
        """
        state = self.trainer.state
        self._write_history()
        if state.interrupted:  # Ctrl-C, SIGTERM or a Stop request: the user's decision
            self._write_status("stopped")
            self.store.upsert_run(self.run_dir.run_id, status="stopped")
        elif state.stop_training and diverged(state.history):
            # No final metrics from weights that give NaN; best.pt stays the last good one.
            self._write_status("diverged", reason=state.stop_reason)
            self.store.upsert_run(self.run_dir.run_id, status="diverged",
                                  reason=state.stop_reason)
            self._write_findings()
        else:
            self._finish(draw_plots)
            self._write_findings()
        self.concluded = True
        self.close()
        return Run(self.run_dir)

    # ------------------------------------------------------------- assembly
    def _build_trainer(self) -> Trainer:
        cfg, data = self.cfg, self.data
        x_train, y_train = (self._tensor(a) for a in data.arrays["train"])
        validation = tuple(self._tensor(a) for a in data.arrays["val"]) if data.has_validation else None
        loss_fn = build_loss(cfg.task, self._class_weights(y_train),
                             self._focal_alpha()).to(self.device)
        fused_step = self._fused_step(loss_fn)
        optimizer = fused_step.optimizer if fused_step else build_optimizer(self.model, cfg)
        stopping = cfg.train.early_stopping
        metric = "accuracy" if cfg.task.type == "classification" else "mae"
        if data.streaming is not None:  # x_train, y_train: the fit sample (class weights)
            batches = StreamingBatches(data.streaming, cfg.train.batch_size, cfg.train.seed,
                                       self.device)
        else:
            batches = InMemoryBatches(x_train, y_train, cfg.train.batch_size, cfg.train.seed,
                                      sampler=build_sampler(cfg.data.balance, data.arrays["train"][1]))
        steps = optimizer_steps_per_epoch(len(batches), cfg.train.accumulate)
        return Trainer(
            self.model, optimizer, loss_fn, batches,
            epochs=cfg.train.epochs,
            metric=RunningMetric(metric, scale=data.preprocessor.target_std,
                                 probabilistic=data.preprocessor.is_probabilistic),
            validation=validation,
            scheduler=build_schedule(optimizer, cfg.train, steps, stopping.monitor,
                                     resolve_mode(stopping.monitor, stopping.mode)),
            callbacks=self._callbacks(),
            grad_clip=cfg.train.grad_clip,
            penalty=WeightPenalty(self.model, cfg.model.l1,
                                  cfg.model.l2 if cfg.model.l2_as == "penalty" else 0.0),
            log_batches=cfg.train.log_batches,
            accumulate=cfg.train.accumulate,
            mixup=cfg.train.mixup,
            fused_step=fused_step,
        )

    def _fused_step(self, loss_fn) -> FusedStep | None:
        """The fused (no autograd) step when the run allows it; records which path trains."""
        verdict = (fused_eligibility(self.model, self.cfg, loss_fn)
                   if self.cfg.train.fused == "auto" else Eligibility(False, "train.fused: off"))
        self.training_path = {"path": "fused" if verdict else "autograd",
                              "reason": verdict.reason or None}
        return FusedStep.from_config(self.model, self.cfg, loss_fn) if verdict else None

    def _callbacks(self) -> list:
        stopping = self.cfg.train.early_stopping
        # First the ones that add keys to the epoch's record, so every later one sees them.
        callbacks = [*self._freeze_schedule(), DeadUnitMonitor(), TerminateOnNaN(),
                     *self._pseudo_label()]
        if self.progress:
            callbacks.append(ProgressBar())
        if stopping.enabled:
            callbacks.append(EarlyStopping(stopping.monitor, stopping.mode, stopping.patience,
                                           stopping.min_delta, stopping.restore_best,
                                           stopping.min_epochs))
        callbacks += self.user_callbacks
        callbacks.append(RunRecorder(self.store, self.run_dir.run_id, stopping.monitor,
                                     stopping.mode))
        checkpoint = self.cfg.train.checkpoint
        # Last: its last.pt must hold every other callback's counters for this epoch.
        self.checkpointer = ModelCheckpoint(self.run_dir.checkpoints, stopping.monitor,
                                            stopping.mode, checkpoint.save_best,
                                            checkpoint.save_last, checkpoint.last_every_s)
        callbacks.append(self.checkpointer)
        # For live readers (trainwise serve). Stateless, so placed after the checkpoint:
        # older runs' saved callback keys keep their positions.
        if self.cfg.task.type == "classification" and self.data.has_validation:
            callbacks.append(ValidationConfusion(self.run_dir.file(CONFUSION_FILE),
                                                 self.data.preprocessor.classes))
        self.control = RunControl(self.run_dir.path)  # lets another process stop the run
        callbacks.append(self.control)
        return callbacks

    def _freeze_schedule(self) -> list[Callback]:
        """The callback for ``model.freeze``/``unfreeze``, or nothing.

        First of all callbacks: which parameters train is settled before anything else sees
        the epoch.
        """
        schedule = FreezeSchedule.from_config(self.model, self.cfg.model)
        return [schedule] if schedule is not None else []

    def _pseudo_label(self) -> list[Callback]:
        """The pseudo-labelling callback when ``train.pseudo_label`` is enabled, else nothing."""
        pseudo = self.cfg.train.pseudo_label
        if not pseudo.enabled:
            return []
        return [PseudoLabel(self._tensor(self.data.unlabelled), pseudo.warmup_epochs,
                            pseudo.every_epochs, pseudo.rounds, pseudo.threshold, pseudo.weight)]

    def _class_weights(self, y_train: torch.Tensor) -> torch.Tensor | None:
        task = self.cfg.task
        if task.type != "classification" or task.class_weights is None:
            return None
        classes = self.data.preprocessor.classes
        if task.class_weights == "balanced":
            return balanced_class_weights(y_train, len(classes))
        weights = per_class_values(task.class_weights, classes, "task.class_weights")
        return torch.tensor(weights, dtype=torch.float32, device=self.device)

    def _focal_alpha(self) -> torch.Tensor | None:
        """``task.focal_alpha`` per class, when the loss includes focal."""
        task = self.cfg.task
        names = task.loss if isinstance(task.loss, dict) else {task.loss}
        if task.focal_alpha is None or "focal" not in names:
            return None
        alpha = focal_alpha_values(task.focal_alpha, self.data.preprocessor.classes)
        return torch.tensor(alpha, dtype=torch.float32, device=self.device)

    def loss_notes(self) -> dict:
        """For data_summary.json: the class weights and focal alpha in force, and where."""
        classes = [str(name) for name in self.data.preprocessor.classes]
        notes = {}
        y_train = torch.from_numpy(self.data.arrays["train"][1])
        factors = {"class_weights": self._class_weights(y_train),
                   "focal_alpha": self._focal_alpha()}
        for key, values in factors.items():
            if values is not None:
                # The trainer's loss scores validation rows too: say so in the record.
                rounded = [float(f"{value:.6g}") for value in values.tolist()]  # float32 noise
                notes[key] = {"values": dict(zip(classes, rounded)),
                              "configured": getattr(self.cfg.task, key),
                              "applied_to": "training and validation loss"}
        return notes

    def _baselines(self) -> dict:
        weights = self._class_weights(torch.from_numpy(self.data.arrays["train"][1]))
        alpha = self._focal_alpha()
        loss_fn = build_loss(self.cfg.task, weights.cpu() if weights is not None else None,
                             alpha.cpu() if alpha is not None else None)
        return compute_baselines(self.data.arrays, self.cfg.task.type,
                                 self.data.preprocessor.n_outputs, loss_fn)

    def _tensor(self, array) -> torch.Tensor:
        return torch.from_numpy(array).to(self.device)

    # ------------------------------------------------------------- the record
    def _finish(self, draw_plots: bool = True) -> None:
        """Final weights, metrics per split, plots and status of a run that completed."""
        self.model.cpu()
        write_atomic(self.run_dir.file(MODEL_FILE),
                     lambda handle: handle.write(_safetensors_bytes(self.model)))
        metrics, predictions, measured = {}, [], []
        for split in ("val", "test"):
            if split in self.data.arrays and len(self.data.arrays[split][0]):
                metrics[split], rows, measurement_rows = self._evaluate(split)
                # One GP fit (O(N³)): on the split the final evaluation reports.
                if self.cfg.task.gp_baseline and split == ("test" if self.data.has_test
                                                           else "val"):
                    metrics[split]["gp_baseline"] = gp_baseline_metrics(self.data, split,
                                                                        self.cfg.train.seed)
                predictions.append(rows)
                measured.append(measurement_rows)
        self.run_dir.write_json("metrics.json", metrics)
        if predictions:
            self.run_dir.write_text("predictions.csv", pd.concat(predictions).to_csv(index=False))
        if any(rows is not None for rows in measured):
            self.run_dir.write_text(MEASUREMENT_PREDICTIONS_FILE,
                                    pd.concat(measured).to_csv(index=False))
        self._write_status("finished")
        self.store.upsert_run(self.run_dir.run_id, status="finished")
        # Last: the plots are drawn from the record's files (history, metrics, predictions,
        # status), so they must all be written first.
        if draw_plots:
            write_plots(self.run_dir.path)

    def _evaluate(self, split: str) -> tuple[dict, pd.DataFrame, pd.DataFrame | None]:
        """Metrics, prediction rows and (site targets) measurement rows for one split."""
        prep = self.data.preprocessor
        features, targets = self.data.arrays[split]
        self.model.eval()
        if not prep.is_probabilistic:
            with torch.inference_mode():
                outputs = self.model(torch.from_numpy(features)).numpy()
            return (evaluate_outputs(prep, outputs, targets),
                    prediction_rows(prep, split, outputs, targets), None)
        parts = predictive_parts(self.model, features, self.cfg.task.mc_dropout, prep)
        measurements = self.data.measurements[split] if self.data.measurements else None
        measurement_rows = None
        if measurements is not None:
            rows, values = measurements
            measurement_rows = pd.DataFrame({
                "split": split, "site_row": rows, "actual": values,
                "predicted": parts["mean"][rows], "predicted_variance": parts["variance"][rows]})
        return (evaluate_distribution(parts, targets, prep, measurements),
                distribution_rows(prep, split, parts, targets), measurement_rows)

    def _write_findings(self) -> None:
        """Read the curves once training is over; `trainwise diagnose` can redo it any time."""
        findings = diagnose_run(self.run_dir.path)
        self.run_dir.write_json("findings.json", [finding.to_dict() for finding in findings])

    def _best(self) -> dict:
        stopping = self.cfg.train.early_stopping
        watch = Monitor(stopping.monitor, stopping.mode)
        for record in self.trainer.state.history:
            watch.update(record)
        return {"monitor": watch.monitor, "best_value": watch.best if watch.best_epoch else None,
                "best_epoch": watch.best_epoch or None}

    def _write_status(self, status: str, reason: str | None = None) -> None:
        state = self.trainer.state
        self.run_dir.write_json("status.json", {
            "status": status,
            "reason": reason,
            "signal": self.received.name,
            "epochs": state.epoch,
            "epochs_planned": self.trainer.epochs,
            "global_step": state.global_step,
            "stop_reason": state.stop_reason,
            "duration_s": sum(record["epoch_time_s"] for record in state.history),
            "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **self._best(),
        })

    def _write_history(self) -> None:
        state = self.trainer.state
        self.run_dir.write_json("history.json", state.history)
        self.run_dir.write_text("history.csv", _csv(state.history))
        if state.batch_history:
            self.run_dir.write_text("batch_history.csv", _csv(state.batch_history))


def _init_from(cfg: Config, runs_dir) -> tuple[Preprocessor | None, dict | None]:
    """The preprocessing and final weights of the run named by ``model.init_from``, if any."""
    if not cfg.model.init_from:
        return None, None
    source = resolve_run(cfg.model.init_from, runs_dir)
    # Recorded resolved, like data paths: 'last' or an id prefix names another run tomorrow.
    cfg.model.init_from = str(source.path.resolve())
    weights_path = source.file(MODEL_FILE)
    if not weights_path.is_file():
        raise UserError(f"model.init_from: run '{source.path}' has no {MODEL_FILE} (it has not "
                        "finished); resume it first, or pick a finished run.")
    try:
        weights = load_file(weights_path)
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise UserError(f"model.init_from: '{weights_path}' is corrupt or truncated ({err}).") from None
    return Preprocessor.from_dict(source.read_json("preprocessing.json")), weights


def prepare_run_data(cfg: Config, source_prep: Preprocessor | None) -> PreparedData:
    """``prepare_data``, reusing ``model.init_from``'s preprocessing as the mode asks.

    Strict (fine-tuning) reuses all of it; partial (transfer learning) only the input side,
    since the target or its classes may be new. A data error in strict mode says so, because
    "classes never seen in training" then means the source run's classes.
    """
    strict = cfg.model.init_from_strict
    try:
        return prepare_data(cfg, source_prep, refit_target=not strict)
    except UserError as err:
        if source_prep is None or not strict:
            raise
        raise UserError(f"{err} (model.init_from reuses that run's preprocessing, its classes "
                        "and target scaling included; to train on a new target or new "
                        "classes, set model.init_from_strict: false.)") from None


def _load_init_weights(model: torch.nn.Module, weights: dict, cfg: Config) -> dict:
    """Start ``model`` from ``model.init_from``'s weights: all of them, or those that fit.

    Args:
        model: the freshly built model.
        weights: the source run's final weights.
        cfg: the config (``model.init_from``, ``model.init_from_strict``).

    Returns:
        The report saved as ``init_from.json``: source, strict, loaded names, skipped names
        with the reason for each.

    Raises:
        UserError: strict and a tensor does not fit, or partial and none fits.
    """
    source = f"model.init_from '{cfg.model.init_from}'"
    if cfg.model.init_from_strict:
        try:
            load_weights_into(model, weights, source)
        except UserError as err:
            raise UserError(f"{err} Or, to load only the tensors that fit (transfer learning), "
                            "set model.init_from_strict: false.") from None
        outcome = {"loaded": list(model.state_dict()), "skipped": []}
    else:
        outcome = load_matching_weights(model, weights)
        if not outcome["loaded"]:
            raise UserError(f"{source}: no tensor of that run fits this model (names or "
                            f"shapes all differ, e.g. {outcome['skipped'][0]['name']}: "
                            f"{outcome['skipped'][0]['reason']}); start from a run with the "
                            "same kind of model, or remove model.init_from.")
    return {"source": cfg.model.init_from, "strict": cfg.model.init_from_strict, **outcome}


def _check_parameter_patterns(model: torch.nn.Module, cfg: Config) -> None:
    """Check ``model.freeze``/``unfreeze`` and ``train.param_groups`` against the model.

    Here, before the run directory exists, so a typo leaves nothing behind. The first epoch's
    freezing is applied now so the model summary counts trainable parameters right.
    """
    schedule = FreezeSchedule.from_config(model, cfg.model)
    if schedule is not None:
        schedule.apply(epoch=1)
    lr_groups(model, cfg.train)


def _choose_lr(cfg: Config, data: PreparedData, model, device, run_dir: RunDirectory, runs_dir,
               progress: bool) -> None:
    """``train.lr: auto``: run the range test, set ``cfg.train.lr``, record what and why.

    The test restores the model, optimizer and RNG, so the run then trains exactly as if the
    chosen rate had been written in the config.
    """
    result = find_lr(cfg, data, model, device)
    cfg.train.lr = result.chosen or DEFAULT_LR
    if result.chosen is None:
        result.reason += f"; trained with the default learning rate {DEFAULT_LR} instead"
    run_dir.write_json("lr_finder.json", result.to_dict())
    plot_lr_finder(result, run_dir.plots / "lr_finder.png")
    if progress:
        print(f"train.lr: auto -> {cfg.train.lr:.3g} ({result.reason})", file=sys.stderr)


def find_lr(cfg: Config, data: PreparedData, model, device) -> LRFinderResult:
    """The LR range test on a probe session: the same model and data, a placeholder rate.

    The probe's run folder and store are temporary: the test trains, but records nothing.
    """
    probe_cfg = cfg.model_copy(deep=True)
    probe_cfg.train.lr = DEFAULT_LR  # replaced step by step by the test's own ramp
    finder = cfg.train.lr_finder
    with tempfile.TemporaryDirectory() as scratch:
        probe = Session(probe_cfg, data, model, device, RunDirectory.create(scratch, "probe"),
                         _store(scratch), False, [])
        return lr_range_test(probe.trainer, finder.start_lr, finder.end_lr, finder.steps,
                             finder.rule)


def probe_lr(config: str | Path | dict | Config, overrides: list[str] | dict | None = None,
             runs_dir: str | Path = "runs") -> tuple[Config, LRFinderResult]:
    """``trainwise lr-find``: the range test for a config, without training a run.

    Returns:
        The validated config and the test's result (curve, suggestions, chosen rate).
    """
    cfg = load_config(config, overrides)
    seed_everything(cfg)
    source_prep, init_weights = _init_from(cfg, runs_dir)
    data = prepare_run_data(cfg, source_prep)
    device = _device(cfg.train.device)
    model = build_model(cfg.model, data.arrays["train"][0].shape[1], data.preprocessor.n_outputs,
                        data.preprocessor.is_probabilistic)
    if init_weights is not None:
        _load_init_weights(model, init_weights, cfg)  # strict or partial, as a run would
    _check_parameter_patterns(model, cfg)  # and frozen as in a run's first epoch
    return cfg, find_lr(cfg, data, model.to(device), device)


def _check_class_factors(cfg: Config, classes: list) -> None:
    """Per-class config values that do not fit the classes stop here, before any file is written."""
    task = cfg.task
    if isinstance(task.class_weights, (list, dict)):
        per_class_values(task.class_weights, classes, "task.class_weights")
    if task.focal_alpha is not None:
        focal_alpha_values(task.focal_alpha, classes)


def seed_everything(cfg: Config) -> None:
    torch.manual_seed(cfg.train.seed)
    if cfg.train.deterministic:
        # cuBLAS needs a fixed workspace for deterministic results; must be set before CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(cfg.train.deterministic)
    if cfg.train.deterministic:
        # cuDNN's autotuner times candidate kernels and may pick another one next run.
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def _device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": torch.backends.mps.is_available()}
    if not available[name]:
        raise UserError(f"train.device: '{name}' is not available on this machine; use "
                        "'auto' or 'cpu'.")
    return torch.device(name)


def _manifest(cfg: Config, data: PreparedData, device: torch.device) -> dict:
    packages = ("trainwise", "torch", "numpy", "pandas", "scikit-learn", "pydantic")
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in packages},
        "device": str(device),
        "seed": cfg.train.seed,
        "deterministic": cfg.train.deterministic,
        "data_fingerprint": data.fingerprint,
        "data_rows": data.summary["rows"],
    }


@lru_cache(maxsize=None)  # reading a distribution's metadata costs ~5 ms; a sweep asks often
def _version(package: str) -> str | None:
    try:
        return version(package)
    except Exception:  # not installed as a distribution (e.g. running from a source tree)
        return None


def _store(runs_dir) -> RunStore:
    return RunStore(Path(runs_dir) / STORE_FILE)


def _safetensors_bytes(model: torch.nn.Module) -> bytes:
    return save({name: tensor.contiguous() for name, tensor in model.state_dict().items()})


def _csv(records: list[dict]) -> str:
    buffer = io.StringIO()
    columns = list(dict.fromkeys(key for record in records for key in record))
    writer = csv.writer(buffer)
    writer.writerow(columns)
    # Rows as lists, not DictWriter: it checks every row's keys, ~3x slower on a long
    # batch history. A missing key is an empty cell, as DictWriter writes it.
    writer.writerows([[record.get(column, "") for column in columns] for record in records])
    return buffer.getvalue()
