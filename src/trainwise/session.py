"""Train a run from a config and leave a complete run record behind.

This is the one entry point behind ``trainwise train``, ``trainwise.fit`` and the dashboard
(``resume_run`` continues runs through the same ``Session``). A session wires three
independent pieces together: an input kind (``trainwise.inputs``: how samples are read,
preprocessed and batched), a model (``trainwise.models``) and a task (``trainwise.tasks``:
loss, metrics, predictions). Everything that can fail because of the user's input (config,
data, checkpoints to start from) is checked before the run directory is created, so a
mistake leaves nothing half-written behind.

Example:
    >>> run = fit("examples/auto_mpg.yaml", {"train.epochs": 5})    # doctest: +SKIP
    >>> run.metrics["test"]["mae"]                                    # doctest: +SKIP
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import torch

from trainwise.allocator import keep_freed_memory
from trainwise.callbacks import Callback
from trainwise.callbacks.loggers import log_run_record, require_loggers
from trainwise.callbacks.nan_guard import diverged
from trainwise.config.load import load_config, parse_overrides
from trainwise.config.schema import Config
from trainwise.data.prepare import PreparedData
from trainwise.diagnostics import diagnose_run
from trainwise.distributed.world import World
from trainwise.environment import choose_device, manifest, seed_everything
from trainwise.inputs.registry import input_kind_for
from trainwise.lr_choice import choose_lr
from trainwise.models.build import build_model
from trainwise.models.summary import summarize_model
from trainwise.reports.plots import write_plots
from trainwise.run import Run
from trainwise.run_record import write_final_record, write_history, write_status
from trainwise.starting_point import (check_parameter_patterns, init_from, load_init_weights,
                                      prepare_run_data)
from trainwise.tasks.registry import task_for
from trainwise.tracking.failure import classify
from trainwise.tracking.liveness import Heartbeat
from trainwise.tracking.run_control import this_process
from trainwise.tracking.run_dir import RunDirectory
from trainwise.tracking.store import RunStore
from trainwise.tracking.store_url import choose_store
from trainwise.trainer_setup import build_trainer
from trainwise.training.interrupt import ReceivedSignal, stop_on_interrupt
from trainwise.training.transfer import REPORT_FILE as INIT_REPORT_FILE
from trainwise.training.transfer import describe_init_report
from trainwise.yaml_io import dump_yaml

if TYPE_CHECKING:
    from trainwise.distributed.data_parallel import DataParallel

def fit(config: str | Path | dict | Config, overrides: list[str] | dict | None = None, *,
        runs_dir: str | Path = "runs", progress: bool = True, callbacks: list[Callback] = (),
        handle_signals: bool = False, plots: bool = False, **keyword_overrides) -> Run:
    """Train a new run and return it.

    Args:
        config: a YAML path, a dict, or a Config.
        overrides: ``["train.lr=0.003"]`` or ``{"train.lr": 0.003}``.
        runs_dir: where the run directory and the run store go.
        progress: show the progress bar.
        callbacks: your own callbacks, called after the built-in ones (their state is saved
            in the checkpoints too).
        handle_signals: let Ctrl-C and SIGTERM stop training after the current step with a
            checkpoint (the ``trainwise`` command does); off by default, so a library call
            leaves its host process's signal handlers alone.
        plots: draw the PNG plots (curves, predictions, confusion matrix...) into the run's
            ``plots/`` before returning. Off by default, as in Keras and Lightning: they are
            views of the record, ~0.8 s of matplotlib that a small run would mostly spend
            drawing; ``trainwise train`` draws them, and ``run.write_plots()``, ``trainwise
            report`` and the dashboard's report draw them any time.
        **keyword_overrides: overrides with ``__`` for dots, e.g. ``train__epochs=20``.

    Returns:
        The Run, with its history, metrics and a model ready to predict.

    Raises:
        UserError: bad config, data or starting weights (nothing is written then).
    """
    merged = {**parse_overrides(overrides), **{k.replace("__", "."): v for k, v in keyword_overrides.items()}}
    cfg = load_config(config, merged)
    world = World.from_environment(device=cfg.train.device)
    if world is not None:  # one rank of a torchrun launch: returns the Run on rank 0 only
        from trainwise.distributed.launch import fit_parallel

        return fit_parallel(cfg, world, runs_dir, progress, list(callbacks), handle_signals,
                            plots)
    return open_session(cfg, runs_dir, progress, list(callbacks)).train(
        draw_plots=plots, handle_signals=handle_signals)


def starting_model(cfg: Config, runs_dir: str | Path, data: PreparedData | None = None
                   ) -> tuple[PreparedData, torch.nn.Module, torch.device, dict | None]:
    """Seed, prepare the data (unless given), and build the model on its device, started
    from ``model.init_from`` when set and frozen as in the first epoch.

    Returns:
        The data, the model, the device, and the ``init_from`` report (None without it).

    Raises:
        UserError: bad data, starting weights, per-class values or parameter patterns.
    """
    seed_everything(cfg)
    inputs, task = input_kind_for(cfg.data.kind), task_for(cfg.task.type)
    source_prep, init_weights = init_from(cfg, runs_dir, inputs)
    if data is None:
        data = prepare_run_data(cfg, source_prep, inputs)
    prep = data.preprocessor
    task.check(cfg, prep)
    device = choose_device(cfg.train.device)
    model = build_model(cfg.model, inputs.input_shape(prep), prep.n_outputs, task.probabilistic)
    init_report = None if init_weights is None else load_init_weights(model, init_weights, cfg)
    check_parameter_patterns(model, cfg)
    return data, model.to(device), device, init_report


def open_session(cfg: Config, runs_dir: str | Path, progress: bool = True,
                 callbacks: list[Callback] = (), data: PreparedData | None = None,
                 run_dir: RunDirectory | None = None,
                 parallel: DataParallel | None = None) -> Session:
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
        parallel: rank 0's side of a data-parallel run (``distributed.launch``), or None.

    Raises:
        UserError: bad config, data or starting weights (nothing is written then).
    """
    require_loggers(cfg)  # a missing TensorBoard or MLflow extra: before any work
    data, model, device, init_report = starting_model(cfg, runs_dir, data)
    input_shape = input_kind_for(cfg.data.kind).input_shape(data.preprocessor)
    with torch.random.fork_rng(devices=[]):  # the summary's forward pass must not move the RNG
        model_summary = summarize_model(model, input_shape, str(device))

    store = open_store(runs_dir, cfg.runs.store)  # unreachable: refused before any folder
    if run_dir is None:
        run_dir = RunDirectory.create(runs_dir, cfg.name, lock=True, claim=store.claim_run)
    try:
        # First: a folder with a config.yaml is a run that `resume` can always train again.
        _write_config(run_dir, cfg)
        if cfg.train.lr == "auto":
            choose_lr(cfg, data, model, device, run_dir, progress)
            _write_config(run_dir, cfg)  # with the rate chosen
        run_dir.write_json("manifest.json", manifest(cfg, data, device))
        run_dir.write_json("preprocessing.json", data.preprocessor.to_dict())
        run_dir.write_json("model_summary.json", model_summary)
        if init_report is not None:
            run_dir.write_json(INIT_REPORT_FILE, init_report)
            if progress:
                print(describe_init_report(init_report), file=sys.stderr)
        session = Session(cfg, data, model, device, run_dir, store, progress, list(callbacks),
                          parallel)
        # Written once the session has resolved the class weights: they belong in the record.
        run_dir.write_json("data_summary.json", {**data.summary, **session.loss_notes()})
        session.record_manifest({"training_path": session.training_path})
    except BaseException:
        run_dir.release()
        raise
    return session


def open_store(runs_dir: str | Path, store: str | None = None) -> RunStore:
    """The run store: ``store`` (the config's ``runs.store``), else ``$TRAINWISE_STORE``,
    else the workspace's ``<runs_dir>/trainwise.db`` (``tracking.store_url``)."""
    return RunStore(choose_store(runs_dir, store))


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
    parallel: DataParallel | None = None  # rank 0 of a data-parallel run (torchrun)

    def __post_init__(self):
        self.inputs = input_kind_for(self.cfg.data.kind)
        self.task = task_for(self.cfg.task.type)
        parts = build_trainer(self)
        self.trainer, self.checkpointer = parts.trainer, parts.checkpointer
        self.control, self.training_path = parts.control, parts.training_path
        # False: a run whose training had already ended when its last.pt was written (killed
        # while writing its final record) ends again without training (``resume``).
        self.continue_stopped = True
        self.received = ReceivedSignal()  # the signal that stopped training, if one did
        self.concluded = False
        self._heartbeat = Heartbeat(self.store, self.run_dir.run_id)

    def train(self, draw_plots: bool = True, handle_signals: bool = False) -> Run:
        """Train (or continue) the run and leave its record (see ``conclude``); returns the Run.

        With ``handle_signals``, the first Ctrl-C or SIGTERM stops training after the current
        step (the run ends ``stopped``, resumable) and a second Ctrl-C at once.

        Raises:
            UserError: the run directory could not be written (a full disk); the run is
                ``failed`` and its last good checkpoint intact.
            RunFailed: training raised; the run is ``failed``, the traceback in error.log.
            KeyboardInterrupt: a second Ctrl-C; the run is ``interrupted`` and resumes.
        """
        keep_freed_memory()  # steps reuse freed memory instead of faulting pages in anew
        try:
            self.begin()
        except BaseException as error:
            self._raise_recorded(error)
        watch = (stop_on_interrupt(self.trainer.state) if handle_signals
                 else nullcontext(self.received))
        with watch as self.received:
            try:
                self.trainer.fit(continue_stopped=self.continue_stopped)
                # Still watched: a repeated SIGTERM (torchrun sends every rank its own after
                # the one the user sent) must not cut the final record in half.
                return self.conclude(draw_plots)
            except BaseException as error:
                # Watched too: when a rank dies, torchrun sends the others SIGTERM, which
                # must not kill this one before the failure is recorded.
                self._raise_recorded(error)

    def _raise_recorded(self, error: BaseException) -> NoReturn:
        """Record the run as ended by ``error`` and raise it (or the clearer one)."""
        raised = self.fail(error)
        if raised is error:
            raise error
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
        write_status(self, "running")
        if not self.run_dir.exists("baselines.json"):
            if baselines is None:
                baselines = self.task.baselines(self.cfg, self.data)
            self.run_dir.write_json("baselines.json", baselines)
        return baselines

    def fail(self, error: BaseException) -> BaseException:
        """Record the run as ended by ``error`` (``tracking.failure``) and close the session.

        Returns:
            The exception to raise: ``error`` itself, or the clearer one that replaces it.
        """
        failure = classify(error, self.run_dir.path, self.run_dir.run_id)
        try:
            write_status(self, failure.status, reason=failure.reason)
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
        write_history(self)
        if state.interrupted:  # Ctrl-C, SIGTERM or a Stop request: the user's decision
            write_status(self, "stopped")
            self.store.upsert_run(self.run_dir.run_id, status="stopped")
        elif state.stop_training and diverged(state.history):
            # No final metrics from weights that give NaN; best.pt stays the last good one.
            write_status(self, "diverged", reason=state.stop_reason)
            self.store.upsert_run(self.run_dir.run_id, status="diverged",
                                  reason=state.stop_reason)
            self._write_findings()
        else:
            self._finish(draw_plots)
            self._write_findings()
        log_run_record(self.trainer.callbacks.callbacks, self.run_dir.path)  # the files above
        self.concluded = True
        self.close()
        return Run(self.run_dir)

    def loss_notes(self) -> dict:
        """For data_summary.json: the factors the task's loss applies, and where."""
        y_train = torch.from_numpy(self.data.arrays["train"][1])
        return self.task.loss_notes(self.cfg, self.data.preprocessor, y_train)

    def _finish(self, draw_plots: bool = True) -> None:
        """Final weights, metrics per split, plots and status of a run that completed."""
        write_final_record(self)
        write_status(self, "finished")
        self.store.upsert_run(self.run_dir.run_id, status="finished")
        # Last: the plots are drawn from the record's files (history, metrics, predictions,
        # status), so they must all be written first. A tracker in tracking.loggers is an
        # ask for them too: TensorBoard shows them as images, MLflow keeps them as artifacts.
        if draw_plots or self.cfg.tracking.loggers:
            write_plots(self.run_dir.path)

    def _write_findings(self) -> None:
        """Read the curves once training is over; `trainwise diagnose` can redo it any time."""
        findings = diagnose_run(self.run_dir.path)
        self.run_dir.write_json("findings.json", [finding.to_dict() for finding in findings])
