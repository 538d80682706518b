"""What the fit loop asks of the other ranks of a data-parallel run.

The model trains inside ``DistributedDataParallel``, which averages the ranks' gradients in
its backward pass. Beyond that the loop needs four things, each one collective:

- **the gradient's weighting**: each rank's loss is the mean over its rows, and DDP averages
  ranks, so a rank's loss is scaled by ``size × its rows / the global batch's rows``; the
  result is the gradient of the mean over the whole global batch, as one process computes
  it, even when the batch does not split evenly (no collective: every rank knows the global
  batch's size);
- **the epoch's numbers**: every step's loss, metric sum and rows, and the validation loss and
  metric, are summed over ranks once per epoch, so every rank writes the same history, and
  early stopping decides the same everywhere;
- **stopping together**: Ctrl-C, SIGTERM or a Stop request may reach one rank only (rank 0
  reads the Stop request); the ranks agree every ``AGREE_EVERY`` steps and at every epoch's
  end, so none is left waiting in a collective;
- **the random state of every rank**, gathered to rank 0 whenever a checkpoint may be written
  (an epoch's end, a stop), so a resumed run gives each rank its own dropout stream back.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from trainwise.distributed.sharded_batches import ShardedBatches, shard_validation
from trainwise.distributed.world import World
from trainwise.training.rng import capture_rng_state, restore_rng_state
from trainwise.training.state import as_float64

# Steps between two agreements on stopping: a collective every step costs ~0.3 ms on gloo,
# more than a small MLP's step; every 8 steps a stop still lands within a blink.
AGREE_EVERY = 8


class DataParallel:
    """One rank's side of a data-parallel run, for the ``Trainer``.

    Args:
        world: the process group's description (joined already).
        seed: the run's seed; a rank's dropout stream starts from it when no checkpoint
            has one for that rank.
    """

    def __init__(self, world: World, seed: int):
        self.world = world
        self.seed = seed
        self.validation_rows = 0
        # Every rank's random state at the last point a checkpoint may be written.
        self.rank_rng: list[dict] | None = None
        self.saved_world_size: int | None = None  # of the checkpoint this run resumed from

    # ------------------------------------------------------------------ assembly
    def shard(self, batches, validation):
        """This rank's training batches and validation rows."""
        local, self.validation_rows = shard_validation(validation, self.world.rank,
                                                       self.world.size)
        return ShardedBatches(batches, self.world.rank, self.world.size), local

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module that trains: ``model`` inside DDP (which copies rank 0's weights and
        buffers to every rank, so all start equal whatever each built)."""
        ids = [self.world.local_rank] if self.world.backend == "nccl" else None
        return DistributedDataParallel(model, device_ids=ids)

    @staticmethod
    def gradient_sync(module: nn.Module, last: bool):
        """DDP reduces gradients once per optimizer step: on the group's last backward."""
        return nullcontext() if last or not hasattr(module, "no_sync") else module.no_sync()

    def start_rank_rng(self) -> None:
        """A fresh run: ranks > 0 draw dropout from their own stream, not rank 0's copy."""
        if not self.world.is_main:
            torch.manual_seed(self.seed * 1_000_003 + self.world.rank)

    # ------------------------------------------------------------------ every step
    @staticmethod
    def gradient_scale(group: list) -> float:
        """The factor on this rank's mean loss that makes DDP's average the global mean."""
        local = sum(len(batch[1]) for batch in group)
        total = sum(batch.total_rows for batch in group)
        return 0.0 if total == 0 else dist.get_world_size() * local / total

    def agree_to_stop(self, state, every_step: bool = True) -> bool:
        """Every rank stops at the same step: if any rank was interrupted (or, at an epoch's
        end, decided to stop), all are. Looked at every ``AGREE_EVERY`` steps unless
        ``every_step``; the numbers of a partial epoch are settled when stopping.

        Returns:
            Whether the ranks stop here (False between two looks, whatever this rank heard:
            it must not leave the others waiting).
        """
        if not every_step and state.global_step % AGREE_EVERY:
            return False
        flags = self._tensor([float(state.interrupted), float(state.stop_training)])
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        interrupted, stop = (bool(flag) for flag in flags.tolist())
        if interrupted and not state.interrupted:
            state.interrupted = True
            state.stop_reason = state.stop_reason or "stopped with another rank"
        if stop and not state.stop_training:
            state.stop_training = True
            state.stop_reason = state.stop_reason or "stopped with another rank"
        if state.interrupted and state.batch_in_epoch:
            self._settle_partial_epoch(state)
        if state.interrupted:
            self.gather_rng()
        return state.interrupted

    # ------------------------------------------------------------------ every epoch
    def reduce_epoch(self, state, validation: dict[str, torch.Tensor]
                     ) -> dict[str, torch.Tensor]:
        """The epoch's steps and validation values summed over ranks, in one collective.

        Replaces the state's per-step values by the global ones (so ``read_epoch`` reads the
        same numbers on every rank) and returns the global validation values.
        """
        steps = len(state.step_losses)
        rows = torch.tensor(state.step_rows, dtype=torch.float64)
        parts = [as_float64(state.step_losses) * rows if steps else rows,
                 as_float64(state.step_metric_sums) if steps else rows, rows,
                 *[value.double().cpu().reshape(1) * self.validation_rows
                   for value in validation.values()],
                 torch.tensor([float(self.validation_rows)], dtype=torch.float64)]
        summed = self._all_reduce(torch.cat(parts))
        loss_sums, metric_sums, all_rows = summed[:steps], summed[steps:2 * steps], \
            summed[2 * steps:3 * steps]
        device = _device_of(state.step_losses)
        state.step_losses = list((loss_sums / all_rows.clamp(min=1)).to(device).unbind())
        state.step_metric_sums = list(metric_sums.to(device).unbind())
        state.step_rows = [int(count) for count in all_rows.tolist()]
        state.batch_losses = list(state.step_losses) if state.batch_losses else []
        values = summed[3 * steps:]
        validation_rows = values[-1].clamp(min=1)
        self.gather_rng()
        return {key: (values[i] / validation_rows).to(dtype=value.dtype, device=value.device)
                for i, (key, value) in enumerate(validation.items())}

    def _settle_partial_epoch(self, state) -> None:
        """A stop in the middle of an epoch: the steps so far become global on every rank
        (rank 0 saves them; a resumed rank > 0 starts from zeros, see ``resumed``)."""
        steps = len(state.step_losses)
        rows = torch.tensor(state.step_rows, dtype=torch.float64)
        summed = self._all_reduce(torch.cat([as_float64(state.step_losses) * rows,
                                             as_float64(state.step_metric_sums), rows]))
        device = _device_of(state.step_losses)
        loss_sums, metric_sums, all_rows = summed[:steps], summed[steps:2 * steps], \
            summed[2 * steps:]
        state.step_losses = list((loss_sums / all_rows.clamp(min=1)).to(device).unbind())
        state.step_metric_sums = list(metric_sums.to(device).unbind())
        state.step_rows = [int(count) for count in all_rows.tolist()]
        state.batch_losses = list(state.step_losses) if state.batch_losses else []

    # ------------------------------------------------------------------ checkpoints
    def gather_rng(self) -> None:
        """Every rank's random state, to rank 0 (kept for the next ``checkpoint_fields``)."""
        states = [None] * self.world.size
        dist.all_gather_object(states, capture_rng_state())
        self.rank_rng = states

    def checkpoint_fields(self) -> dict:
        """What a checkpoint adds for the ranks: the world size and each rank's RNG."""
        return {"world_size": self.world.size, "rng": self.rank_rng or []}

    def resumed(self, checkpoint: dict, state) -> None:
        """After a checkpoint was loaded on this rank: its own random state back, and a
        partial epoch's steps (already global, see ``_settle_partial_epoch``) counted once.
        """
        ranks = checkpoint.get("ranks") or {"world_size": 1, "rng": []}
        self.saved_world_size = ranks["world_size"]
        self.rank_rng = ranks["rng"] or None
        if self.world.rank < len(ranks["rng"]):
            restore_rng_state(ranks["rng"][self.world.rank])
        elif not self.world.is_main:
            self.start_rank_rng()  # a rank the saved run did not have: a stream of its own
        if not self.world.is_main and state.step_losses:
            state.step_losses = [loss * 0 for loss in state.step_losses]
            state.step_metric_sums = [value * 0 for value in state.step_metric_sums]
            state.step_rows = [0 for _ in state.step_rows]
            state.batch_losses = list(state.step_losses) if state.batch_losses else []

    def _tensor(self, values: list[float]) -> torch.Tensor:
        return self._on_comm_device(torch.tensor(values, dtype=torch.float64))

    def _on_comm_device(self, values: torch.Tensor) -> torch.Tensor:
        """NCCL reduces GPU tensors only; gloo, CPU tensors."""
        if self.world.backend == "nccl":
            return values.to(torch.device("cuda", self.world.local_rank))
        return values

    def _all_reduce(self, values: torch.Tensor) -> torch.Tensor:
        values = self._on_comm_device(values)
        dist.all_reduce(values)
        return values.cpu()


def _device_of(step_values: list) -> torch.device:
    """Where an epoch's step values live: their device, or the CPU's for numbers already read
    (and for no steps at all)."""
    first = step_values[0] if step_values else None
    return first.device if isinstance(first, torch.Tensor) else torch.device("cpu")
