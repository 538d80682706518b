"""trainwise, two ways: the full ``trainwise.fit`` path, and its bare ``Trainer``.

``mode: fit`` (the tool "trainwise") is what a user runs: a config dict into
``trainwise.fit``, which reads the Parquet rows, fits the preprocessing, builds the model,
trains with every built-in callback (dead-unit monitor, NaN guard, run recorder, best and
last checkpoints written every epoch, per-batch loss history) and leaves the complete run
record (history, weights, metrics, plots, findings). Only early stopping is off, so every
tool trains the same number of epochs, and the progress bar is off, like the peers'.

``mode: stream`` (the tool "trainwise-stream") is ``mode: fit`` with
``data.streaming.enabled: true``: the training rows stream from the Parquet file through
DataLoader workers (two; none under ``--threads 1``, where every tool has one core) instead
of living in memory.

``mode: trainer`` (the tool "trainwise-trainer") is the loop alone: ``Trainer`` over
``InMemoryBatches`` with trainwise's optimizer (fused Adam), no callbacks, no files.

Sweeps: ``SWEEP_RUNNERS`` maps a name to a function ``(data, job) -> list[dict]``; the
runner's ``--trainwise-sweep NAME`` (or a tool's ``trainwise_sweep`` option) picks one:
"sequential", one ``trainwise.fit`` per rate, or "batched", ``trainwise.sweep`` training all
rates as one batched model (each rate still a full run with its own record).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import trainwise
from trainwise.sweep import sweep
from trainwise.callbacks import Callback
from trainwise.config.schema import Config
from trainwise.models.build import build_model
from trainwise.training.batches import InMemoryBatches
from trainwise.training.losses import MSELoss
from trainwise.training.optim import build_optimizer
from trainwise.training.running_metric import RunningMetric
from trainwise.training.trainer import Trainer

from job import Data, Job


def train_one(data: Data, job: Job, lr: float) -> dict:
    """One training run at ``lr``, as ``job.options["mode"]`` says (see the module doc)."""
    if job.options.get("mode") == "trainer":
        return _bare_trainer(data, job, lr)
    return _full_fit(data, job, lr, Path(job.scratch) / "runs")


def train_sweep(data: Data, job: Job) -> list[dict]:
    """All of ``job.lrs`` with the sweep runner named by ``job.options["trainwise_sweep"]``."""
    if job.options.get("mode") == "trainer":
        return [_bare_trainer(data, job, lr) for lr in job.lrs]
    return SWEEP_RUNNERS[job.options.get("trainwise_sweep", "sequential")](data, job)


def sweep_sequential(data: Data, job: Job) -> list[dict]:
    """``trainwise.sweep`` over the rates, one full run after another (``mode: sequential``)."""
    return _sweep(data, job, "sequential")


def sweep_batched(data: Data, job: Job) -> list[dict]:
    """``trainwise.sweep`` over the rates: one batched model, one run record per rate."""
    return _sweep(data, job, "batched")


def _sweep(data: Data, job: Job, mode: str) -> list[dict]:
    result = sweep(config(job, job.lrs[0]), {"train.lr": list(job.lrs)}, mode=mode,
                   runs_dir=Path(job.scratch) / "runs", progress=False)
    return [{"val_loss": run.history[-1]["val_loss"],
             "device": run.run_dir.read_json("manifest.json")["device"],
             "epochs_run": len(run.history),
             "same_init": _same_start(run, data.weights) if lr == job.lrs[0] else None}
            for lr, run in zip(job.lrs, result.runs)]


SWEEP_RUNNERS: dict[str, Callable[[Data, Job], list[dict]]] = {"sequential": sweep_sequential,
                                                                "batched": sweep_batched}


def config(job: Job, lr: float) -> dict:
    """The config a user would write for this job: defaults except what the benchmark fixes.

    A CNN scenario reads its raw ``train.npz`` / ``val.npz`` as ``data.kind`` images or frames
    (standardised per channel by trainwise, fitted on train) and trains ``model.layers`` with
    cross-entropy; a table scenario reads the Parquet rows and trains the MLP with MSE.
    """
    init = "glorot_uniform" if job.init == "glorot" else "default"
    split = {"method": "files", "val_file": job.val_table}
    if job.layers:
        data = {"kind": job.data_kind, "source": job.train_table, "split": split}
        task = {"type": "classification"}
        model = {"name": "cnn", "layers": list(job.layers), "init": init}
    else:
        data = {"source": job.train_table, "target": job.target, "split": split}
        task = {"type": "regression", "loss": "mse"}
        model = {"hidden": list(job.hidden), "activation": "relu", "init": init}
    return {
        "name": f"bench-scenario{job.scenario}",
        "data": data,
        "task": task,
        "model": model,
        "train": {"optimizer": "adam", "lr": lr, "batch_size": job.batch_size,
                  "epochs": job.epochs, "seed": job.seed, "device": job.device,
                  # Same epochs for every tool; checkpoints stay at their default (on).
                  "early_stopping": {"enabled": False}},
    }


class SameStart(Callback):
    """Checks, before the first step, that ``fit`` drew the shared initial weights.

    ``on_train_begin`` only, so it costs nothing per step (hooks a callback does not override
    are never called).
    """

    def __init__(self, weights: list[tuple[np.ndarray, np.ndarray]]):
        self.expected = [array for pair in weights for array in pair]
        self.same: bool | None = None

    def on_train_begin(self, trainer) -> None:
        actual = [tensor.detach().cpu().numpy() for tensor in trainer.model.state_dict().values()]
        self.same = len(actual) == len(self.expected) and all(
            a.shape == e.shape and np.array_equal(a, e) for a, e in zip(actual, self.expected))


def _full_fit(data: Data, job: Job, lr: float, runs_dir: Path) -> dict:
    check = SameStart(data.weights)
    cfg = config(job, lr)
    if job.options.get("mode") == "stream":
        # run.py passes --threads on as OMP_NUM_THREADS. With one thread every tool gets one
        # core, so the rows are read in the training process (as torch-dataloader's are).
        workers = 0 if os.environ.get("OMP_NUM_THREADS") == "1" else 2
        cfg["data"]["streaming"] = {"enabled": True, "workers": workers}
    run = trainwise.fit(cfg, runs_dir=runs_dir, progress=False, callbacks=[check])
    history = run.history
    return {"val_loss": history[-1]["val_loss"], "device": run.run_dir.read_json(
                "manifest.json")["device"], "epochs_run": len(history), "same_init": check.same}


def _same_start(run, weights: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    """Whether the run's first checkpointed epoch could have started from the shared weights:
    its ``best.pt`` is later, so this checks the config (seed and init) that drew them."""
    torch.manual_seed(run.config.train.seed)
    model = build_model(run.config.model, weights[0][0].shape[1], 1)
    drawn = [tensor.numpy() for tensor in model.state_dict().values()]
    return all(np.array_equal(a, e) for a, e in zip(drawn, [w for pair in weights for w in pair]))


def _bare_trainer(data: Data, job: Job, lr: float) -> dict:
    """The Trainer alone, from the shared weights, with trainwise's optimizer and batches."""
    device = torch.device(job.device)
    cfg = Config.model_validate(config(job, lr))
    torch.manual_seed(job.seed)
    model = build_model(cfg.model, data.x_train.shape[1], 1)
    with torch.no_grad():
        for tensor, array in zip(model.state_dict().values(),
                                 [a for pair in data.weights for a in pair]):
            tensor.copy_(torch.from_numpy(array))
    model.to(device)
    x, y, x_val, y_val = (torch.from_numpy(a).to(device)
                          for a in (data.x_train, data.y_train, data.x_val, data.y_val))
    trainer = Trainer(model, build_optimizer(model, cfg), MSELoss(),
                      InMemoryBatches(x, y, job.batch_size, job.seed), epochs=job.epochs,
                      metric=RunningMetric("mae"), validation=(x_val, y_val))
    state = trainer.fit()
    return {"val_loss": state.history[-1]["val_loss"], "device": str(device),
            "epochs_run": state.epoch}
