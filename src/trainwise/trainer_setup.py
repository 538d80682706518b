"""Assemble a session's Trainer: batches from the input kind, loss and metric from the task,
the optimizer (fused when the model allows), schedule, penalties and callbacks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

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
from trainwise.callbacks.freeze import FreezeSchedule
from trainwise.callbacks.loggers import build_loggers
from trainwise.callbacks.monitor import resolve_mode
from trainwise.callbacks.run_control import RunControl
from trainwise.fused import Eligibility, FusedStep, fused_eligibility
from trainwise.tasks.base import CHUNK_VALUES
from trainwise.training.optim import build_optimizer
from trainwise.training.penalty import WeightPenalty
from trainwise.training.running_metric import RunningMetric
from trainwise.training.schedules import build_schedule, optimizer_steps_per_epoch
from trainwise.training.trainer import Trainer

if TYPE_CHECKING:
    from trainwise.session import Session

EVAL_ROWS = 8192  # the trainer's validation chunk for feature vectors


@dataclass
class TrainerParts:
    """The trainer and the pieces of it the session and sweeps reach for."""

    trainer: Trainer
    checkpointer: ModelCheckpoint | None  # its clock is shared by a batched sweep's members
    control: RunControl | None  # lets another process stop the run (None: a rank > 0)
    training_path: dict  # {"path": "fused" | "autograd", "reason": ...} for the manifest


def build_trainer(session: Session, records: bool = True) -> TrainerParts:
    """The Trainer for ``session``'s config, data, model and device.

    Args:
        session: a ``Session``, or a data-parallel run's rank > 0 (``distributed.launch``).
        records: with the callbacks that write the run record (checkpoints, the store, the
            progress bar, the task's live records, Stop requests); a rank > 0 trains
            without them, in step with rank 0, which writes.
    """
    cfg, data, device, parallel = session.cfg, session.data, session.device, session.parallel
    y_train = torch.from_numpy(data.arrays["train"][1]).to(device)  # the fit sample, streamed
    loss_fn = session.task.loss(cfg, data.preprocessor, y_train, device)
    fused_step, training_path = _fused_step(session.model, cfg, loss_fn, parallel is not None)
    optimizer = fused_step.optimizer if fused_step else build_optimizer(session.model, cfg)
    stopping = cfg.train.early_stopping
    batches = session.inputs.batches(data, cfg, device)
    validation = session.inputs.validation(data, device)
    if parallel is not None:
        batches, validation = parallel.shard(batches, validation)
    steps = optimizer_steps_per_epoch(len(batches), cfg.train.accumulate)
    checkpointer, control = ((_checkpointer(session), RunControl(session.run_dir.path))
                             if records else (None, None))
    trainer = Trainer(
        session.model, optimizer, loss_fn, batches,
        epochs=cfg.train.epochs,
        metric=RunningMetric(session.task.running_metric, scale=data.preprocessor.target_std,
                             probabilistic=session.task.probabilistic),
        validation=validation,
        scheduler=build_schedule(optimizer, cfg.train, steps, stopping.monitor,
                                 resolve_mode(stopping.monitor, stopping.mode)),
        callbacks=(_callbacks(session, checkpointer, control) if records
                   else _training_callbacks(session)),
        grad_clip=cfg.train.grad_clip,
        penalty=WeightPenalty(session.model, cfg.model.l1,
                              cfg.model.l2 if cfg.model.l2_as == "penalty" else 0.0),
        log_batches=cfg.train.log_batches,
        accumulate=cfg.train.accumulate,
        mixup=cfg.train.mixup,
        fused_step=fused_step,
        eval_batch_size=_eval_rows(session.inputs.input_shape(data.preprocessor)),
        parallel=parallel,
    )
    return TrainerParts(trainer, checkpointer, control, training_path)


def _eval_rows(sample_shape: tuple[int, ...]) -> int:
    """Rows per validation chunk: 8,192 feature vectors, fewer images or frames, whose
    convolution activations (channels × the sample's size, per row) would otherwise take
    gigabytes at once."""
    if len(sample_shape) < 2:
        return EVAL_ROWS
    return max(64, min(EVAL_ROWS, CHUNK_VALUES // math.prod(sample_shape)))


def _fused_step(model: torch.nn.Module, cfg, loss_fn,
                data_parallel: bool) -> tuple[FusedStep | None, dict]:
    """The fused (no autograd) step when the run allows it, and which path trains, why."""
    if data_parallel:  # DDP reduces the gradients autograd's backward produces
        verdict = Eligibility(False, "data-parallel (DDP) training runs autograd")
    elif cfg.train.fused == "auto":
        verdict = fused_eligibility(model, cfg, loss_fn)
    else:
        verdict = Eligibility(False, "train.fused: off")
    path = {"path": "fused" if verdict else "autograd", "reason": verdict.reason or None}
    return (FusedStep.from_config(model, cfg, loss_fn) if verdict else None), path


def _checkpointer(session: Session) -> ModelCheckpoint:
    stopping, checkpoint = session.cfg.train.early_stopping, session.cfg.train.checkpoint
    return ModelCheckpoint(session.run_dir.checkpoints, stopping.monitor, stopping.mode,
                           checkpoint.save_best, checkpoint.save_last, checkpoint.last_every_s)


def _callbacks(session: Session, checkpointer: ModelCheckpoint,
               control: RunControl) -> list[Callback]:
    cfg = session.cfg
    stopping = cfg.train.early_stopping
    # First the ones that add keys to the epoch's record, so every later one sees them.
    callbacks = [*_freeze_schedule(session), DeadUnitMonitor(), TerminateOnNaN(),
                 *_pseudo_label(session)]
    if session.progress:
        callbacks.append(ProgressBar(every=cfg.tracking.progress_every))
    if stopping.enabled:
        callbacks.append(EarlyStopping(stopping.monitor, stopping.mode, stopping.patience,
                                       stopping.min_delta, stopping.restore_best,
                                       stopping.min_epochs))
    callbacks += session.user_callbacks
    callbacks.append(RunRecorder(session.store, session.run_dir.run_id, stopping.monitor,
                                 stopping.mode))
    # Last: its last.pt must hold every other callback's counters for this epoch.
    callbacks.append(checkpointer)
    # The task's live records. Stateless, so placed after the checkpoint: older runs' saved
    # callback keys keep their positions.
    callbacks += session.task.callbacks(cfg, session.data, session.run_dir)
    # TensorBoard, MLflow: here only, so a data-parallel rank > 0 logs nothing twice.
    callbacks += build_loggers(cfg, session.run_dir)
    callbacks.append(control)
    return callbacks


def _training_callbacks(session: Session) -> list[Callback]:
    """The callbacks that change training itself, in the order ``_callbacks`` has them: what
    a data-parallel rank > 0 runs (it writes nothing; rank 0 records)."""
    cfg = session.cfg
    stopping = cfg.train.early_stopping
    callbacks = [*_freeze_schedule(session), DeadUnitMonitor(), TerminateOnNaN()]
    if stopping.enabled:
        callbacks.append(EarlyStopping(stopping.monitor, stopping.mode, stopping.patience,
                                       stopping.min_delta, stopping.restore_best,
                                       stopping.min_epochs))
    return callbacks + session.user_callbacks


def _freeze_schedule(session: Session) -> list[Callback]:
    """The callback for ``model.freeze``/``unfreeze``, or nothing.

    First of all callbacks: which parameters train is settled before anything else sees
    the epoch.
    """
    schedule = FreezeSchedule.from_config(session.model, session.cfg.model)
    return [schedule] if schedule is not None else []


def _pseudo_label(session: Session) -> list[Callback]:
    """The pseudo-labelling callback when ``train.pseudo_label`` is enabled, else nothing."""
    pseudo = session.cfg.train.pseudo_label
    if not pseudo.enabled:
        return []
    unlabelled = torch.from_numpy(session.data.unlabelled).to(session.device)
    return [PseudoLabel(unlabelled, pseudo.warmup_epochs, pseudo.every_epochs, pseudo.rounds,
                        pseudo.threshold, pseudo.weight)]
