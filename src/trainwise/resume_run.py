"""Continue a run exactly where it stopped, whatever stopped it.

Any run can be resumed: one with a checkpoint continues from it (from ``last.prev.pt`` when
``last.pt`` is damaged or missing), and one killed before its first checkpoint trains again
from epoch 0 in the same run directory. Training is deterministic, so either way the result
equals the uninterrupted run bit for bit.

Example:
    >>> run = resume("runs/20261121-090010-auto_mpg", epochs=200)    # doctest: +SKIP
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from trainwise.callbacks import Callback
from trainwise.config.load import load_config
from trainwise.data.prepare import PreparedData
from trainwise.distributed.launch import print_world_change, world_change
from trainwise.distributed.world import World
from trainwise.environment import choose_device, seed_everything
from trainwise.errors import UserError
from trainwise.inputs.registry import input_kind_for
from trainwise.models.build import build_model
from trainwise.run import Run
from trainwise.session import Session, open_session, open_store
from trainwise.starting_point import init_from, prepare_run_data
from trainwise.tasks.registry import task_for
from trainwise.tracking.run_dir import RunDirectory, resolve_run
from trainwise.training.checkpoint import load_checkpoint, previous_path
from trainwise.yaml_io import load_yaml

if TYPE_CHECKING:
    from trainwise.distributed.data_parallel import DataParallel

# What Trainer.checkpoint_state writes, and so what a resume needs.
RESUMABLE_KEYS = ("model", "optimizer", "scheduler", "train_state", "callbacks", "rng")


def resume(reference: str | Path, epochs: int | None = None, *, runs_dir: str | Path = "runs",
           progress: bool = True, callbacks: list[Callback] = (),
           handle_signals: bool = False, plots: bool = False) -> Run:
    """Continue a run exactly where its last checkpoint left it.

    Model, optimizer, schedule, counters, RNG, data order, early-stopping and best-checkpoint
    state and history all come back, so 10 epochs + 10 resumed equal 20 straight.

    Args:
        reference: the run's path or id.
        epochs: the new total number of epochs (default: the run's own).
        callbacks: the same kinds of callbacks the run was started with, if any.
        handle_signals: as for ``fit``: Ctrl-C and SIGTERM stop after the current step.
        plots: as for ``fit``: draw the PNG plots before returning.

    Raises:
        UserError: another process trains the run now, its data changed, its checkpoints
            are all damaged, or ``epochs`` is not more than it has trained.
    """
    world = World.from_environment()
    if world is not None:  # one rank of a torchrun launch: the Run on rank 0 only
        from trainwise.distributed.launch import resume_parallel

        run_dir = resolve_run(reference, runs_dir) if world.is_main else None
        return resume_parallel(run_dir, epochs, world, runs_dir, progress, list(callbacks),
                               handle_signals, plots)
    run_dir = resolve_run(reference, runs_dir)
    return open_resumed(run_dir, epochs, runs_dir, progress, list(callbacks)).train(
        draw_plots=plots, handle_signals=handle_signals)


def open_resumed(run_dir: RunDirectory, epochs: int | None, runs_dir, progress: bool,
                 callbacks: list[Callback], parallel: DataParallel | None = None) -> Session:
    """The session that continues ``run_dir``, its lock taken (``resume`` trains it; a
    resumed batched sweep trains several together).

    Args:
        parallel: rank 0's side of a data-parallel resume, or None for one process.

    Raises:
        UserError: as ``resume``.
    """
    run_dir.acquire()  # before anything is read: a live run is left untouched
    try:
        return _open(run_dir, epochs, runs_dir, progress, callbacks, parallel)
    except BaseException:
        run_dir.release()
        raise


def _open(run_dir: RunDirectory, epochs: int | None, runs_dir, progress: bool,
          callbacks: list[Callback], parallel: DataParallel | None) -> Session:
    """The session that continues ``run_dir`` (its lock held)."""
    raw = load_yaml(run_dir.file("config.yaml").read_text())
    cfg = load_config(raw, {"train.epochs": epochs} if epochs else None)
    saved = _saved_state(run_dir)
    if saved is None:
        return _restart(run_dir, cfg, runs_dir, progress, callbacks, parallel)
    checkpoint, path = saved
    _keep_training_path(run_dir, cfg, parallel)
    seed_everything(cfg)
    inputs = input_kind_for(cfg.data.kind)
    saved_prep = inputs.load_preprocessing(run_dir.read_json("preprocessing.json"))
    data = inputs.prepare(cfg, saved_prep)
    _check_same_data(run_dir, cfg, data)
    device = choose_device(cfg.train.device)
    model = build_model(cfg.model, inputs.input_shape(saved_prep), saved_prep.n_outputs,
                        task_for(cfg.task.type).probabilistic).to(device)
    session = Session(cfg, data, model, device, run_dir, open_store(runs_dir, cfg.runs.store),
                      progress, callbacks, parallel)
    session.trainer.load_checkpoint_state(checkpoint, f"'{path}'")
    _note_world_change(session, checkpoint)
    if epochs is not None and epochs <= session.trainer.state.epoch:
        raise UserError(f"--epochs {epochs}: run {run_dir.run_id} has already trained "
                        f"{session.trainer.state.epoch} epochs; ask for more than that.")
    # Without new epochs, a run that early stopping (or the NaN guard) had ended, killed
    # while writing its final record, ends the same way again instead of training on.
    session.continue_stopped = epochs is not None
    return session


def _keep_training_path(run_dir: RunDirectory, cfg, parallel: DataParallel | None) -> None:
    """A resumed run steps the way its checkpoint was written: the fused path keeps its
    optimizer's parameters in other groups than autograd's, so the state of one does not
    load into the other. A run that trained with autograd (under DDP, or ``train.fused:
    off``) goes on with it; a fused run cannot go on under DDP.

    Raises:
        UserError: a fused run resumed with several processes.
    """
    recorded = (run_dir.read_json("manifest.json") if run_dir.exists("manifest.json")
                else {}).get("training_path") or {}
    if recorded.get("path") == "autograd":
        cfg.train.fused = "off"
    elif recorded.get("path") == "fused" and parallel is not None:
        raise UserError(f"run {run_dir.run_id} trained in one process on the fused MLP path, "
                        "whose optimizer state does not continue under data-parallel training. "
                        "Resume it without --nproc/torchrun; to be able to switch, start runs "
                        "meant for several processes with train.fused: off.")


def _note_world_change(session: Session, checkpoint: dict) -> None:
    """Say, and record in the manifest, what resuming at another world size changes."""
    saved = (checkpoint.get("ranks") or {}).get("world_size", 1)
    now = session.parallel.world.size if session.parallel is not None else 1
    note = world_change(saved, now)
    if note:
        print_world_change(note)
        changes = session.run_dir.read_json("manifest.json").get("world_size_changes", [])
        session.record_manifest({"world_size_changes": [*changes, note]})


def _restart(run_dir: RunDirectory, cfg, runs_dir, progress: bool,
             callbacks: list[Callback], parallel: DataParallel | None) -> Session:
    """A run killed before its first checkpoint: open it again from its start, in place."""
    print(f"run {run_dir.run_id} was stopped before its first checkpoint: training it again "
          f"from epoch 0 in the same folder, with seed {cfg.train.seed}. Training is "
          "deterministic, so the result is the one the first attempt would have given.",
          file=sys.stderr)
    seed_everything(cfg)
    # Prepared here to compare it before open_session rewrites the manifest. Preparing uses
    # no torch RNG (a sweep's members share one preparation on the same premise), so the
    # model starts from the same weights as in the first attempt.
    inputs = input_kind_for(cfg.data.kind)
    data = prepare_run_data(cfg, init_from(cfg, runs_dir, inputs)[0], inputs)
    _check_same_data(run_dir, cfg, data)
    first_manifest = run_dir.read_json("manifest.json") if run_dir.exists("manifest.json") else {}
    # A best.pt the first attempt wrote just before it was killed belongs to that attempt.
    (run_dir.checkpoints / "best.pt").unlink(missing_ok=True)
    session = open_session(cfg, runs_dir, progress, callbacks, data=data, run_dir=run_dir,
                           parallel=parallel)
    # What others added to the first attempt's manifest stays (a sweep names its member).
    fresh = run_dir.read_json("manifest.json")
    session.record_manifest({key: value for key, value in first_manifest.items()
                             if key not in fresh})
    return session


def _saved_state(run_dir: RunDirectory) -> tuple[dict, Path] | None:
    """The checkpoint to continue from and its path: ``last.pt``, or the previous one when
    ``last.pt`` is missing or damaged; None when the run has no checkpoint at all.

    Raises:
        UserError: every checkpoint there is damaged, or last.pt is not a training checkpoint.
    """
    last = run_dir.checkpoints / "last.pt"
    previous = previous_path(last)
    if not last.is_file() and not previous.is_file():
        return None
    problem = None if last.is_file() else f"'{last}' is missing (killed while replacing it)"
    for path in (last, previous):
        if not path.is_file():
            continue
        try:
            checkpoint = load_checkpoint(path)
        except UserError as err:
            problem = problem or str(err)
            continue
        _require_resumable(checkpoint, path)
        if problem:
            print(f"{problem}. Resuming from the previous checkpoint '{path}' (epoch "
                  f"{checkpoint['train_state']['epoch']}) instead: the epochs after it are "
                  "trained again, with the same result.", file=sys.stderr)
        return checkpoint, path
    raise UserError(f"{problem} No earlier good checkpoint is left ('{previous}' "
                    f"{'is damaged too' if previous.is_file() else 'does not exist'}). Remove "
                    f"'{last}' to train run {run_dir.run_id} again from epoch 0 in the same "
                    "folder (training is deterministic: the result is the same), or start a "
                    "new run.")


def _require_resumable(checkpoint, path: Path) -> None:
    """A readable file that is not a full training checkpoint (e.g. best.pt copied over it)."""
    missing = [key for key in RESUMABLE_KEYS
               if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise UserError(f"checkpoint '{path}' is not a resumable trainwise checkpoint (it lacks "
                        f"{', '.join(missing)}); only the last.pt a run writes can be resumed. "
                        "To start from its weights instead, make a new run with model.init_from.")


def _check_same_data(run_dir: RunDirectory, cfg, data: PreparedData) -> None:
    """Refuse to continue on data that changed since the run started: it would not be exact.

    A first attempt killed before writing its manifest recorded nothing to compare with.
    """
    if not run_dir.exists("manifest.json"):
        return
    recorded = run_dir.read_json("manifest.json")["data_fingerprint"]
    if data.fingerprint != recorded:
        raise UserError(f"data.source '{cfg.data.source}' changed since run {run_dir.run_id} "
                        f"started (fingerprint {data.fingerprint}, was {recorded}), so it cannot "
                        "resume exactly. Restore the data, or start a new run from this one's "
                        f"weights with model.init_from: {run_dir.path}.")
