"""Open a data-parallel run on every rank: rank 0 opens it as a single process would (checks,
run directory, preprocessing fitted, ``lr: auto``, a checkpoint to resume) and sends the
other ranks what they need to train in step with it; they write nothing.

Example (what ``torchrun --nproc_per_node=2 -m trainwise train CONFIG`` runs on each rank):
    >>> run = trainwise.fit("examples/auto_mpg.yaml")   # Run on rank 0, None elsewhere
    ...                                                  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from trainwise.callbacks import Callback
from trainwise.config.load import load_config
from trainwise.config.schema import Config
from trainwise.data.prepare import PreparedData
from trainwise.distributed.checks import refuse_unsupported
from trainwise.distributed.data_parallel import DataParallel
from trainwise.distributed.world import World
from trainwise.environment import choose_device, seed_everything
from trainwise.errors import UserError
from trainwise.inputs.registry import input_kind_for
from trainwise.models.build import build_model
from trainwise.run import Run
from trainwise.tasks.registry import task_for
from trainwise.trainer_setup import build_trainer
from trainwise.training.interrupt import stop_on_interrupt

# A resume reads its config on rank 0 only, after the ranks have met: the wait for that
# first meeting comes from the environment (seconds), else the config's default.
TIMEOUT_VARIABLE = "TRAINWISE_DDP_TIMEOUT_S"


def fit_parallel(cfg: Config, world: World, runs_dir: str | Path, progress: bool,
                 callbacks: list[Callback], handle_signals: bool, plots: bool) -> Run | None:
    """``fit`` on one rank of a data-parallel run: the Run on rank 0, None elsewhere."""
    refuse_unsupported(cfg)
    from trainwise.session import open_session

    with world.joined(cfg.train.ddp_timeout_s):
        parallel = DataParallel(world, cfg.train.seed)
        if world.is_main:
            session = open_on_main(world, lambda: open_session(
                cfg, runs_dir, progress, callbacks, parallel=parallel))
        else:
            session = open_on_rank(world, parallel, callbacks)
        with leaving_together(world):
            return session.train(draw_plots=plots, handle_signals=handle_signals)


def resume_parallel(run_dir, epochs: int | None, world: World, runs_dir, progress: bool,
                    callbacks: list[Callback], handle_signals: bool, plots: bool) -> Run | None:
    """``resume`` on one rank of a data-parallel run (any world size: see ``world_change``)."""
    from trainwise.resume_run import open_resumed

    with world.joined(float(os.environ.get(TIMEOUT_VARIABLE, 300))):
        seed = 0  # replaced from the checkpoint on every rank
        parallel = DataParallel(world, seed)
        if world.is_main:
            session = open_on_main(world, lambda: open_resumed(
                run_dir, epochs, runs_dir, progress, callbacks, parallel=parallel))
        else:
            session = open_on_rank(world, parallel, callbacks)
        with leaving_together(world):
            return session.train(draw_plots=plots, handle_signals=handle_signals)


@contextmanager
def leaving_together(world: World):
    """No rank leaves before rank 0 has written the run's final record: a rank > 0 that
    ended first would have torchrun stop the others, rank 0 in the middle of its record.
    Best effort: a rank already gone fails the wait at once, and that is ignored."""
    try:
        yield
    finally:
        try:
            dist.barrier()
        except Exception:  # noqa: BLE001 -- a dead peer: nothing left to wait for
            pass


def open_on_main(world: World, open_session: Callable):
    """Rank 0: open the session, then tell the other ranks how to train (or that it failed,
    so they end at once instead of waiting out the timeout)."""
    try:
        session = open_session()
    except BaseException as error:
        world.broadcast({"error": str(error).splitlines()[0] if str(error) else
                         type(error).__name__})
        raise
    session.parallel.seed = session.cfg.train.seed
    try:
        _send_launch(world, session)
    except BaseException as error:  # a rank died while rank 0 was opening the run
        raise session.fail(world.explain(error)) from error
    session.record_manifest({"data_parallel": {
        "world_size": world.size, "backend": world.backend,
        "path": "autograd inside DistributedDataParallel; each rank trains a contiguous "
                "share of every global batch (train.batch_size rows in all)"}})
    return session


def _send_launch(world: World, session) -> None:
    """What the other ranks need: the resolved config, the fitted preprocessing, the data's
    fingerprint, and a resumed run's checkpoint."""
    world.broadcast({
        "config": session.cfg.model_dump(mode="json"),
        "preprocessing": session.data.preprocessor.to_dict(),
        "fingerprint": session.data.fingerprint,
        "checkpoint": session.trainer.checkpoint_state() if session.trainer.state.global_step
        else None,
        "continue_stopped": session.continue_stopped,
    })


def open_on_rank(world: World, parallel: DataParallel, callbacks: list[Callback]) -> RankSession:
    """A rank > 0: the same data and model as rank 0, from what rank 0 sent."""
    message = world.broadcast()
    if "error" in message:
        raise UserError(f"rank {world.rank}: rank 0 could not open the run ({message['error']}); "
                        "see rank 0's message.")
    cfg = load_config(message["config"])
    seed_everything(cfg)
    parallel.seed = cfg.train.seed
    inputs = input_kind_for(cfg.data.kind)
    prep = inputs.load_preprocessing(message["preprocessing"])
    data = inputs.prepare(cfg, prep)
    if data.fingerprint != message["fingerprint"]:
        raise UserError(f"rank {world.rank}: data.source '{cfg.data.source}' differs from rank "
                        f"0's (fingerprint {data.fingerprint}, rank 0 has "
                        f"{message['fingerprint']}); every machine needs the same data files.")
    device = choose_device(cfg.train.device)
    # Its own weights are replaced by rank 0's when DDP wraps the model.
    model = build_model(cfg.model, inputs.input_shape(prep), prep.n_outputs,
                        task_for(cfg.task.type).probabilistic).to(device)
    session = RankSession(cfg, data, model, device, parallel, callbacks)
    if message["checkpoint"] is not None:
        session.trainer.load_checkpoint_state(message["checkpoint"], "rank 0's checkpoint")
    else:
        parallel.start_rank_rng()
    session.continue_stopped = message["continue_stopped"]
    return session


@dataclass
class RankSession:
    """A rank > 0 of a data-parallel run: trains its share in step with rank 0, which
    writes the run record; this rank writes nothing."""

    cfg: Config
    data: PreparedData
    model: torch.nn.Module
    device: torch.device
    parallel: DataParallel
    user_callbacks: list[Callback]

    def __post_init__(self):
        self.inputs = input_kind_for(self.cfg.data.kind)
        self.task = task_for(self.cfg.task.type)
        self.trainer = build_trainer(self, records=False).trainer
        self.continue_stopped = True

    def train(self, draw_plots: bool = False, handle_signals: bool = False) -> None:
        """Train this rank's share; ``draw_plots`` is rank 0's (it writes the record)."""
        watch = stop_on_interrupt(self.trainer.state) if handle_signals else nullcontext()
        with watch:
            self.trainer.fit(continue_stopped=self.continue_stopped)


def world_change(saved: int, now: int) -> str | None:
    """What resuming at another world size changes, in words (None: the same size)."""
    if saved == now:
        return None
    dropout = (f"ranks {saved} to {now - 1} draw dropout from new streams (seeded afresh)"
               if now > saved else
               f"the dropout streams of ranks {now} to {saved - 1} are no longer drawn")
    return (f"resumed with {now} process(es); the run was trained with {saved} until now. The "
            "data order, learning rate, schedule and batch size (train.batch_size rows in all) "
            "stay as they were. What changes: each process's share of every batch, so sums are "
            "added in another order (last-digit differences, not bit-identical to an "
            "uninterrupted run), batch-norm statistics (taken per process), and "
            f"{dropout}.")


def print_world_change(note: str | None) -> None:
    if note:
        print(f"note: {note}", file=sys.stderr)
