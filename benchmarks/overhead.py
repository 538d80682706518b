"""What the full train path costs beyond the bare loop: callbacks, logging and the run record.

    python benchmarks/overhead.py [--repeats 5] [--epochs 700] [--threads 1]
                                  [--out benchmarks/results/overhead.json]

In one process, on scenario 1 (the Auto MPG tutorial: 251 training rows x 7 features,
Dense 32-32-1, batch 16, Adam 1e-3, validation every epoch), trains the same model from the
same initial weights four ways, round-robin so background load falls on all alike:

1. ``loop``: ``Trainer`` with the step ``fit`` picks (the fused one), no callbacks, no
   per-batch loss log: the floor.
2. ``+ batch log``: the same with ``log_batches`` on, as ``fit`` runs it.
3. ``+ callbacks``: plus every built-in callback ``fit`` adds for this config, each hook
   timed on its own (so the table can say which callback costs what).
4. ``trainwise.fit``: the whole path, config to finished run record; a callback of ours
   splits it into set-up, training and the record written after training.

Then the last run's plots are redrawn and its diagnosis re-read, to time those alone. Prints
a Markdown table of medians over the repeats and writes every measurement as JSON. Both
clocks are kept: wall time is what a user waits (file writes included), CPU time is what
other processes on a shared machine disturb far less.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import torch
from scenarios import SCENARIOS, prepare

import trainwise
from trainwise.atomic import write_json_atomic
from trainwise.callbacks import (
    Callback,
    DeadUnitMonitor,
    ModelCheckpoint,
    RunControl,
    RunRecorder,
    TerminateOnNaN,
)
from trainwise.callbacks.base import HOOKS
from trainwise.config.load import load_config
from trainwise.data.prepare import prepare_data
from trainwise.diagnostics import diagnose_run
from trainwise.fused import FusedStep, fused_eligibility
from trainwise.models.build import build_model
from trainwise.reports.plots import write_plots
from trainwise.tracking.run_dir import RunDirectory
from trainwise.tracking.store import RunStore
from trainwise.training.batches import InMemoryBatches
from trainwise.training.losses import build_loss
from trainwise.training.optim import build_optimizer
from trainwise.training.running_metric import RunningMetric
from trainwise.training.trainer import Trainer

HERE = Path(__file__).resolve().parent
VARIANTS = ("loop", "+ batch log", "+ callbacks", "trainwise.fit")
WARMUP_EPOCHS = 2  # an untimed round first: lazy imports and first-call set-up


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="trainwise-overhead-") as scratch:
        config = scenario_config(Path(scratch), args.seed, args.epochs)
        measure_all(config, Path(scratch), WARMUP_EPOCHS, repeats=1, quiet=True)
        repeats = measure_all(config, Path(scratch), args.epochs, args.repeats)
    steps = args.epochs * repeats[0]["loop"]["steps_per_epoch"]
    result = {"settings": {"epochs": args.epochs, "steps": steps, "repeats": args.repeats,
                           "threads": args.threads, "seed": args.seed},
              "machine": _machine(), "summary": summary_rows(repeats, args.epochs, steps),
              "repeats": repeats}
    print(markdown(result))
    write_json_atomic(args.out, result)
    print(f"\nwritten: {args.out}")
    return 0


# ----------------------------------------------------------------- what is trained
def scenario_config(scratch: Path, seed: int, epochs: int) -> dict:
    """The config a user would write for scenario 1 (as the benchmark runner's trainwise tool)."""
    scenario = SCENARIOS[1]
    files = prepare(scenario, seed, "torch", scratch).files
    return {
        "name": "overhead",
        "data": {"source": str(files.train_table), "target": "mpg",
                 "split": {"method": "files", "val_file": str(files.val_table)}},
        "task": {"type": "regression", "loss": "mse"},
        "model": {"hidden": list(scenario.hidden), "activation": "relu"},
        "train": {"optimizer": "adam", "lr": scenario.lrs[0], "batch_size": scenario.batch_size,
                  "epochs": epochs, "seed": seed, "early_stopping": {"enabled": False}},
    }


def build_trainer(config: dict, epochs: int, log_batches: bool,
                  callbacks: list[Callback] = ()) -> Trainer:
    """A ``Trainer`` as ``fit`` assembles it for ``config``, with the given callbacks."""
    cfg = load_config(config, {"train.epochs": epochs})
    data = prepare_data(cfg)
    torch.manual_seed(cfg.train.seed)  # fit's seeding: the same initial weights
    x_train, y_train = (torch.from_numpy(array) for array in data.arrays["train"])
    validation = tuple(torch.from_numpy(array) for array in data.arrays["val"])
    model = build_model(cfg.model, x_train.shape[1], data.preprocessor.n_outputs)
    loss_fn = build_loss(cfg.task)
    fused = (FusedStep.from_config(model, cfg, loss_fn)
             if fused_eligibility(model, cfg, loss_fn) else None)
    return Trainer(model, fused.optimizer if fused else build_optimizer(model, cfg), loss_fn,
                   InMemoryBatches(x_train, y_train, cfg.train.batch_size, cfg.train.seed),
                   epochs=epochs, metric=RunningMetric("mae", scale=data.preprocessor.target_std),
                   validation=validation, callbacks=callbacks, log_batches=log_batches,
                   fused_step=fused)


def builtin_callbacks(config: dict, runs_dir: Path) -> list[Callback]:
    """The callbacks ``fit`` adds for ``config`` (regression; early stopping and progress off),
    in its order, writing into a fresh run folder. ``measure_fit`` checks that the list still
    matches what ``fit`` really uses."""
    cfg = load_config(config)
    run_dir = RunDirectory.create(runs_dir, "overhead-callbacks")
    stopping, checkpoint = cfg.train.early_stopping, cfg.train.checkpoint
    store = RunStore(runs_dir / "trainwise.db")
    store.upsert_run(run_dir.run_id, name=cfg.name, task=cfg.task.type,
                     path=str(run_dir.path), status="running")
    return [DeadUnitMonitor(), TerminateOnNaN(),
            RunRecorder(store, run_dir.run_id, stopping.monitor, stopping.mode),
            ModelCheckpoint(run_dir.checkpoints, stopping.monitor, stopping.mode,
                            checkpoint.save_best, checkpoint.save_last, checkpoint.last_every_s),
            RunControl(run_dir.path)]


# ----------------------------------------------------------------- measuring
class _Clock:
    """Wall and CPU seconds since it was made."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> dict[str, float]:
        return {"wall_s": time.perf_counter() - self.wall, "cpu_s": time.process_time() - self.cpu}


def measure_all(config: dict, scratch: Path, epochs: int, repeats: int,
                quiet: bool = False) -> list[dict]:
    """``repeats`` rounds over the four variants, each round starting one variant later."""
    runs_dir = scratch / "runs"
    measures = {"loop": lambda: measure_trainer(config, epochs, False, []),
                "+ batch log": lambda: measure_trainer(config, epochs, True, []),
                "+ callbacks": lambda: measure_trainer(
                    config, epochs, True, builtin_callbacks(config, runs_dir)),
                "trainwise.fit": lambda: measure_fit(config, epochs, runs_dir)}
    rounds = []
    for index in range(repeats):
        shift = index % len(VARIANTS)
        rounds.append({name: measures[name]() for name in VARIANTS[shift:] + VARIANTS[:shift]})
        if not quiet:
            print(f"[{index + 1}/{repeats}] " + "  ".join(
                f"{name} {rounds[-1][name]['cpu_s']:.2f} s" for name in VARIANTS), flush=True)
    return rounds


def measure_trainer(config: dict, epochs: int, log_batches: bool,
                    callbacks: list[Callback]) -> dict:
    """Time ``Trainer.fit`` alone (building it is outside the clock); each hook on its own."""
    hook_seconds = {type(callback).__name__: 0.0 for callback in callbacks}
    for callback in callbacks:
        _time_hooks(callback, hook_seconds)
    trainer = build_trainer(config, epochs, log_batches, callbacks)
    clock = _Clock()
    state = trainer.fit()
    return {**clock.read(), "val_loss": state.history[-1]["val_loss"],
            "steps_per_epoch": len(trainer.batches),
            "path": "fused" if trainer.fused_step else "autograd", "hooks_s": hook_seconds}


def measure_fit(config: dict, epochs: int, runs_dir: Path) -> dict:
    """Time ``trainwise.fit`` whole and in three parts; then plots and diagnosis alone."""
    clock = _Clock()
    spy = _Spy(clock)
    run = trainwise.fit(config, {"train.epochs": epochs}, runs_dir=runs_dir, progress=False,
                        callbacks=[spy])
    whole = clock.read()
    fitted = [name for name in spy.callbacks if name != "_Spy"]
    timed = [type(callback).__name__ for callback in builtin_callbacks(config, runs_dir / "x")]
    if fitted != timed:
        print(f"warning: fit uses the callbacks {fitted}; '+ callbacks' times {timed}",
              file=sys.stderr)
    parts = {"setup": spy.began, "training": _between(spy.began, spy.ended),
             "record": _between(spy.ended, whole)}
    return {**whole, "val_loss": run.history[-1]["val_loss"], "callbacks": fitted,
            **{f"{name}_{key}": value for name, part in parts.items() for key, value in part.items()},
            **_prefixed("plots", _timed(write_plots, run.run_dir.path)),
            **_prefixed("diagnosis", _timed(diagnose_run, run.run_dir.path))}


class _Spy(Callback):
    """Notes the clocks when training begins and ends inside ``fit``, and its callbacks.

    Its hooks run among the built-in ones (user callbacks come before the run recorder and
    the checkpoints), so "training" starts and ends within a few of their hooks' time.
    """

    def __init__(self, clock: _Clock):
        self.clock = clock
        self.callbacks: list[str] = []

    def on_train_begin(self, trainer) -> None:
        self.callbacks = [type(callback).__name__ for callback in trainer.callbacks.callbacks]
        self.began = self.clock.read()

    def on_train_end(self, trainer) -> None:
        self.ended = self.clock.read()


def _between(start: dict, end: dict) -> dict:
    return {key: end[key] - start[key] for key in ("wall_s", "cpu_s")}


def _prefixed(name: str, seconds: dict) -> dict:
    return {f"{name}_{key}": value for key, value in seconds.items()}


def _timed(function, *args) -> dict:
    clock = _Clock()
    function(*args)
    return clock.read()


def _time_hooks(callback: Callback, seconds: dict[str, float]) -> None:
    """Wrap the hooks ``callback`` overrides so their wall time adds up in ``seconds``.

    Instance attributes shadow the methods; ``CallbackList`` still sees the class's override
    and binds the wrapper. Two clock reads per call: well under a microsecond.
    """
    name = type(callback).__name__
    for hook in HOOKS:
        if getattr(type(callback), hook) is not getattr(Callback, hook):
            setattr(callback, hook, _timed_hook(getattr(callback, hook), name, seconds))


def _timed_hook(method, name: str, seconds: dict[str, float]):
    def timed(*args):
        started = time.perf_counter()
        method(*args)
        seconds[name] += time.perf_counter() - started

    return timed


# ----------------------------------------------------------------- the table
def summary_rows(repeats: list[dict], epochs: int, steps: int) -> list[dict]:
    """One row per measured part: median seconds, and its cost per epoch and per step."""
    def median(variant: str, key: str) -> float:
        return statistics.median(r[variant][key] for r in repeats)

    def row(what: str, wall: float, cpu: float | None = None) -> dict:
        return {"what": what, "wall_s": wall, "cpu_s": cpu,
                "ms_per_epoch": 1e3 * wall / epochs, "us_per_step": 1e6 * wall / steps}

    def variant(name: str) -> tuple[float, float]:
        return median(name, "wall_s"), median(name, "cpu_s")

    def difference(later: str, earlier: str) -> tuple[float, float]:
        return tuple(a - b for a, b in zip(variant(later), variant(earlier)))

    fit = "trainwise.fit"
    rows = [row("loop: Trainer, fused step, no callbacks, no batch log", *variant("loop")),
            row("+ per-batch loss log (log_batches)", *difference("+ batch log", "loop")),
            row("+ built-in callbacks, all of them", *difference("+ callbacks", "+ batch log"))]
    for name in repeats[0]["+ callbacks"]["hooks_s"]:
        hooks = statistics.median(r["+ callbacks"]["hooks_s"][name] for r in repeats)
        rows.append(row(f"-- {name} (inside its hooks, wall)", hooks))
    rows += [row("trainwise.fit, whole", *variant(fit)),
             *(row(f"-- {what}", median(fit, f"{part}_wall_s"), median(fit, f"{part}_cpu_s"))
               for part, what in (("setup", "set-up before training"),
                                  ("training", "training (Trainer.fit with callbacks)"),
                                  ("record", "record after training"))),
             row("---- of which plots (redrawn alone)", median(fit, "plots_wall_s"),
                 median(fit, "plots_cpu_s")),
             row("---- of which diagnosis (re-read alone)", median(fit, "diagnosis_wall_s"),
                 median(fit, "diagnosis_cpu_s")),
             row("callbacks + logging + record: fit - loop", *difference(fit, "loop"))]
    return rows


def markdown(result: dict) -> str:
    settings, machine = result["settings"], result["machine"]
    last = result["repeats"][-1]
    losses = ", ".join(f"{name} {last[name]['val_loss']:.6f}" for name in VARIANTS)
    lines = [(f"## Overhead of the full train path: scenario 1, {settings['epochs']} epochs, "
              f"{settings['steps']} optimizer steps"),
             "",
             (f"- median of {settings['repeats']} round(s), {settings['threads']} thread(s); "
              f"{machine['summary']}; load {machine['load']}"),
             f"- training path: {last['loop']['path']}; final val loss: {losses}",
             ("- ms / epoch and µs / step: wall time (file writes wait for the disk); CPU "
              "time is steadier on a shared machine for comparing two versions"),
             "",
             "| part | s (wall) | s (CPU) | ms / epoch | µs / step |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for row in result["summary"]:
        cpu = "" if row["cpu_s"] is None else f"{row['cpu_s']:.3f}"
        lines.append(f"| {row['what']} | {row['wall_s']:.3f} | {cpu} | "
                     f"{row['ms_per_epoch']:.3f} | {row['us_per_step']:.1f} |")
    return "\n".join(lines)


def _machine() -> dict:
    return {"summary": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, "
                       f"Python {platform.python_version()}, torch {version('torch')}, "
                       f"matplotlib {version('matplotlib')}",
            "load": " ".join(f"{value:.2f}" for value in os.getloadavg())}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds over the variants")
    parser.add_argument("--epochs", type=int, default=SCENARIOS[1].epochs)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "overhead.json")
    return parser


if __name__ == "__main__":
    sys.exit(main())
