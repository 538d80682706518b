"""The fit loop: epochs of batches, one optimizer step per ``accumulate`` batches, callbacks
around them.

Nothing in the batch loop reads a value back to the host, or adds up anything on the device:
each step's loss and metric sum are kept as they come, and everything the epoch measured is
read in one transfer in ``end_epoch`` and added up there.
"""

from __future__ import annotations

import itertools
import time
from contextlib import nullcontext

import torch
from torch import nn

from trainwise.callbacks.base import Callback, CallbackList
from trainwise.training.batches import InMemoryBatches
from trainwise.training.checkpoint import load_weights_into
from trainwise.training.kept_outputs import KeptOutputs
from trainwise.training.mixup import Mixup
from trainwise.training.penalty import WeightPenalty
from trainwise.training.rng import capture_rng_state, restore_rng_state
from trainwise.training.running_metric import RunningMetric
from trainwise.training.schedules import Schedule
from trainwise.training.state import TrainState


class Trainer:
    """Trains ``model`` on in-memory batches and validates it once per epoch.

    Args:
        model: the network; its outputs go straight into ``loss_fn``.
        optimizer: a built optimizer over the model's parameters.
        loss_fn: a ``RowLoss``: ``loss_fn(prediction, target, weight=None)`` -> batch mean.
        batches: the training rows, already on the model's device.
        epochs: train until this many epochs are complete.
        metric: the headline metric tracked per epoch (mae or accuracy).
        validation: ``(features, targets)`` on the device, or None for no validation.
        scheduler: a ``Schedule`` (per-step or per-epoch), a plain epoch-stepped torch
            scheduler, or None.
        scheduler_monitor: the history key a plain plateau scheduler watches.
        callbacks: hooks called around epochs and batches (see ``Callback``).
        grad_clip: clip the global gradient norm to this value (None: no clipping).
        penalty: L1/L2 weight penalties added to the training objective.
        log_batches: keep every optimizer step's loss in ``state.batch_history``.
        accumulate: batches whose gradients add up to one optimizer step.
        mixup: mixup's alpha (0: off); see ``Mixup``.
        fused_step: a ``fused.FusedStep`` over ``model``: forward, backward, penalty, clipping
            and the optimizer's update in one call without autograd (its ``optimizer`` must be
            ``optimizer``); None trains with autograd. The session decides (``fused_eligibility``).
        parallel: a ``distributed.DataParallel`` when this process is one rank of a
            data-parallel run (``batches`` and ``validation`` are then this rank's shards);
            None for a single process.

    Example:
        >>> from trainwise.training.losses import MSELoss
        >>> model = nn.Linear(3, 1)
        >>> batches = InMemoryBatches(torch.randn(20, 3), torch.randn(20), batch_size=5, seed=0)
        >>> trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1),
        ...                   MSELoss(), batches,
        ...                   epochs=2, metric=RunningMetric("mae"))
        >>> [record["epoch"] for record in trainer.fit().history]
        [1, 2]
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn,
                 batches: InMemoryBatches, epochs: int, metric: RunningMetric,
                 validation: tuple[torch.Tensor, torch.Tensor] | None = None,
                 scheduler=None, scheduler_monitor: str = "val_loss",
                 callbacks: list[Callback] = (), grad_clip: float | None = None,
                 penalty: WeightPenalty | None = None, log_batches: bool = True,
                 eval_batch_size: int = 8192, accumulate: int = 1, mixup: float = 0.0,
                 fused_step=None, parallel=None):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.batches = batches
        self.epochs = epochs
        self.metric = metric
        self.validation = validation
        self.last_validation: KeptOutputs | None = None  # read again, not recomputed
        self.schedule = (scheduler if isinstance(scheduler, Schedule)
                         else Schedule(scheduler, monitor=scheduler_monitor))
        self.callbacks = CallbackList(callbacks)
        self.grad_clip = grad_clip
        self.penalty = penalty if penalty is not None and penalty.active else None
        self.log_batches = log_batches
        self.eval_batch_size = eval_batch_size
        self.accumulate = accumulate
        self.mixup = Mixup(mixup) if mixup > 0 else None
        self.fused_step = fused_step
        self.parallel = parallel
        self.forward_module = model  # what trains: the model, or the model inside DDP
        self.state = TrainState()
        self._logged: dict[str, torch.Tensor] = {}  # this epoch's ``log_value`` values

    # ----------------------------------------------------------------- the loop
    def fit(self, continue_stopped: bool = True) -> TrainState:
        """Train until ``epochs`` are complete, a callback stops training, or an interrupt.

        Args:
            continue_stopped: forget a stop decided earlier (a resumed run continues past its
                early stopping); False keeps it, so the loop ends at once and only the
                end-of-training hooks run.
        """
        state = self.state
        if continue_stopped:
            state.stop_training = False
            state.stop_reason = None
        state.interrupted = False
        self.callbacks.call("on_train_begin", self)
        try:
            if self.parallel is not None:
                self.forward_module = self.parallel.wrap(self.model)
                self.parallel.agree_to_stop(state)  # a Stop request found at the start
            while state.epoch < self.epochs and not (state.stop_training or state.interrupted):
                self.train_epoch()
        except RuntimeError as error:
            # A collective whose peer died or went silent: name the rank, not gloo's socket.
            if self.parallel is None:
                raise
            raise self.parallel.world.explain(error) from error
        self.callbacks.call("on_train_end", self)
        return state

    def train_epoch(self) -> None:
        """One pass over the training batches (or the rest of one, after a mid-epoch resume)."""
        state = self.state
        if state.batch_in_epoch == 0:
            state.reset_epoch_accumulators()
            self._logged = {}
            self.callbacks.call("on_epoch_begin", self)
            state.epoch_lr = self.lr  # the history's lr: the rate of the epoch's first step
        started = time.perf_counter()
        if not self.model.training:  # ``predict`` puts it back; a module walk costs ~15 µs
            self.model.train()
        for group in self._step_groups():
            loss, metric_sum, rows = self.accumulated_step(group)
            self._accumulate(loss, metric_sum, rows, len(group))
            self.schedule.after_step()
            self.callbacks.call("on_batch_end", self, loss)
            if self._stopping_now():  # checked per optimizer step: no half-summed gradient is lost
                state.epoch_seconds += time.perf_counter() - started
                return
        record = self.end_epoch(started)
        self.callbacks.call("on_epoch_end", self, record)
        if self.parallel is not None:
            self.parallel.agree_to_stop(state)  # e.g. a callback of rank 0's alone stopped it

    def training_step(self, features: torch.Tensor, targets: torch.Tensor,
                      weights: torch.Tensor | None = None):
        """One batch, one optimizer step. Returns the loss and metric sum as device tensors."""
        loss, metric_sum, _ = self.accumulated_step([(features, targets, weights)])
        return loss, metric_sum

    def accumulated_step(self, group: list[tuple]) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Forward and backward over each ``(x, y, w)`` batch of ``group``, then one step.

        Each batch's loss is scaled by its share of the group's rows, so the summed gradients
        are those of the mean loss over all the group's rows: ``accumulate`` batches of
        ``batch_size`` make the same step as one batch of ``accumulate * batch_size``. The
        weight penalty is added once per step, with the last batch.

        Returns:
            The group's loss and metric sum (device tensors) and its number of rows.
        """
        if self.fused_step is not None:
            return self._fused_step(*group[0])
        rows = sum(len(targets) for _, targets, _ in group)
        # Data-parallel: this rank's share of the global batch (1.0 when the ranks' shares
        # are equal); DDP then averages the ranks' gradients into the global batch's.
        rank_share = self.parallel.gradient_scale(group) if self.parallel is not None else 1.0
        self.optimizer.zero_grad(set_to_none=True)
        losses, metric_sums = [], []
        for position, (features, targets, weights) in enumerate(group):
            prediction, loss = self._forward(features, targets, weights)
            if len(targets) == 0:  # a rank's empty share of a short last batch: no rows,
                loss = prediction.sum() * 0.0  # but DDP still needs its backward
            # Without accumulation the share is 1: skip the multiply (bit-identical, no kernel).
            scaled = loss if len(targets) == rows else loss * (len(targets) / max(rows, 1))
            objective = scaled if rank_share == 1.0 else scaled * rank_share
            last = position == len(group) - 1
            with (nullcontext() if self.parallel is None
                  else self.parallel.gradient_sync(self.forward_module, last)):
                (objective + self.penalty() if self.penalty and last else objective).backward()
            losses.append(scaled.detach())
            # The metric compares with the batch's own targets, mixup or not.
            metric_sums.append(self.metric.batch_sum(prediction.detach(), targets))
        self._clip_and_measure_gradients()
        self.optimizer.step()
        return _sum(losses), _sum(metric_sums), rows

    def _fused_step(self, features: torch.Tensor, targets: torch.Tensor,
                    weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The same step as ``accumulated_step`` on one batch, by the hand-derived kernels."""
        first_batch = self.state.batch_in_epoch == 0
        loss, prediction = self.fused_step(features, targets, weights,
                                           measure_grad_norm=first_batch)
        if first_batch:
            self.state.grad_norm = self.fused_step.grad_norm.detach()
        return loss, self.metric.batch_sum(prediction, targets), targets.shape[0]

    def end_epoch(self, started: float) -> dict:
        """Validate, read the epoch's numbers once, append the history record, step the schedule.

        The record's ``lr`` is the rate of the epoch's first optimizer step: the rate of the
        whole epoch for epoch schedules, its start for step schedules (whose per-step rates
        are in ``batch_history``). Values callbacks logged (``log_value``) come last.
        """
        state = self.state
        validation = self._validation_values()
        if self.parallel is not None:  # every rank reads the same, global, numbers
            validation = self.parallel.reduce_epoch(state, validation)
        named = dict(validation)
        if state.grad_norm is not None:
            named["grad_norm"] = state.grad_norm.reshape(())
        named.update(self._logged)
        # The epoch's one read from the device (see ``TrainState.read_epoch``).
        loss, metric, values, batch_losses = state.read_epoch(named, self.log_batches)
        state.epoch += 1
        state.batch_in_epoch = 0
        record = {"epoch": state.epoch, "loss": loss, self.metric.name: metric}
        record.update({key: values[key] for key in validation})
        record["lr"] = state.epoch_lr
        record["grad_norm"] = values.get("grad_norm")
        record["epoch_time_s"] = state.epoch_seconds + time.perf_counter() - started
        record.update({key: values[key] for key in self._logged})
        state.history.append(record)
        if self.log_batches:
            self._log_batches(batch_losses)
        state.reset_epoch_accumulators()
        self.schedule.after_epoch(record)
        return record

    def log_value(self, key: str, value: torch.Tensor) -> None:
        """Add ``key`` to this epoch's history record: a 0-d device tensor, read with the epoch's
        other numbers (no extra transfer). Call it before the epoch ends: from
        ``on_batch_end`` or the validation hooks (``on_epoch_end`` gets the finished record).

        Raises:
            RuntimeError: ``value`` holds more than one number.
        """
        self._logged[key] = value.reshape(())

    @property
    def finishing(self) -> bool:
        """True from the end of the epoch after which ``fit`` returns (in ``on_epoch_end``).

        Callbacks that save or send less than every epoch use it to never skip the last one.
        A mid-epoch interrupt is not seen here; ``on_train_end`` is called for it.
        """
        state = self.state
        return state.epoch >= self.epochs or state.stop_training or state.interrupted

    @property
    def lr(self) -> float:
        """The current learning rate (of the first parameter group)."""
        return self.optimizer.param_groups[0]["lr"]

    # ----------------------------------------------------------------- helpers
    @torch.inference_mode()
    def validate(self) -> dict:
        """``{"val_loss", "val_<metric>"}`` over the validation rows, or {} without validation."""
        values = self._validation_values()
        return dict(zip(values, torch.stack(list(values.values())).tolist())) if values else {}

    @torch.inference_mode()
    def _validation_values(self) -> dict[str, torch.Tensor]:
        """The validation loss and metric as device tensors; the validation hooks around the
        forward pass (a callback can watch it, e.g. ``DeadUnitMonitor``)."""
        if self.validation is None:
            return {}
        features, targets = self.validation
        self.callbacks.call("on_validation_begin", self)
        prediction = self.predict(features)
        self.last_validation = KeptOutputs.of(self.model, self.state.global_step, prediction)
        self.callbacks.call("on_validation_end", self)
        return {"val_loss": self.loss_fn(prediction, targets),
                f"val_{self.metric.name}": self.metric.value(prediction, targets)}

    @torch.inference_mode()
    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Model outputs for all rows, in eval mode, in large chunks.

        A fused step predicts with its own kernels (the same numbers, no module calls);
        otherwise the model runs in eval mode and is put back as it was.
        """
        if self.fused_step is not None:
            return self._in_chunks(self.fused_step.predict, features)
        was_training = self.model.training
        self.model.eval()
        outputs = self._in_chunks(self.model, features)
        self.model.train(was_training)
        return outputs

    def _in_chunks(self, forward, features: torch.Tensor) -> torch.Tensor:
        size = self.eval_batch_size
        if len(features) <= size:
            return forward(features)  # one chunk: no slicing, no copy
        return torch.cat([forward(features[start:start + size])
                          for start in range(0, len(features), size)])

    def _clip_and_measure_gradients(self) -> None:
        """Clip when asked; record the gradient norm (before clipping) of each epoch's first batch.

        One batch per epoch is enough to see gradients explode or vanish, and costs nothing on
        the other batches. With accumulation both happen once per optimizer step, on the
        summed gradient (the first step's norm is the one recorded).
        """
        first_batch = self.state.batch_in_epoch == 0
        if self.grad_clip:
            norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip, foreach=True)
        elif first_batch:
            grads = [p.grad for p in self.model.parameters() if p.grad is not None]
            norm = nn.utils.get_total_norm(grads, foreach=True)
        if first_batch:
            self.state.grad_norm = norm.detach()

    def _step_groups(self):
        """The rest of this epoch's batches, ``accumulate`` at a time: one group per step.

        Groups never span epochs, so an epoch's last group may hold fewer batches (and its
        last batch fewer rows); ``accumulated_step`` weighs them by rows.
        """
        batches = self.batches.epoch(self.state.epoch, skip=self.state.batch_in_epoch)
        while group := list(itertools.islice(batches, self.accumulate)):
            yield group

    def _forward(self, features: torch.Tensor, targets: torch.Tensor,
                 weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Prediction and loss of one batch; with mixup, of its mixed rows."""
        if self.mixup is not None:
            return self.mixup.forward(self.forward_module, self.loss_fn, features, targets,
                                      weights)
        prediction = self.forward_module(features)
        return prediction, self.loss_fn(prediction, targets, weights)

    def _stopping_now(self) -> bool:
        """Whether to end the epoch after this step (Ctrl-C, SIGTERM, a Stop request). The
        ranks of a data-parallel run decide together, at the same steps."""
        if self.parallel is None:
            return self.state.interrupted
        return self.parallel.agree_to_stop(self.state, every_step=False)

    def _accumulate(self, loss: torch.Tensor, metric_sum: torch.Tensor, rows: int,
                    batches: int = 1) -> None:
        """Keep one optimizer step's numbers for the epoch's one read (``end_epoch``)."""
        state = self.state
        if loss.device.type == "cpu":  # read now, waiting for nothing (design.md, "Kept scalars")
            loss, metric_sum = loss.item(), metric_sum.item()
        state.step_losses.append(loss)
        state.step_metric_sums.append(metric_sum)
        state.step_rows.append(rows)  # a short last batch counts for what it is
        state.batch_in_epoch += batches
        state.global_step += 1
        if self.log_batches:
            state.batch_losses.append(loss)
            if self.schedule.per_step:
                state.batch_lrs.append(self.lr)  # before the schedule steps: the rate just used

    def _log_batches(self, losses: list[float]) -> None:
        """The logged steps' losses (and rates, for step schedules) into ``batch_history``."""
        state = self.state
        first_step = state.global_step - len(losses) + 1
        for i, value in enumerate(losses):
            row = {"step": first_step + i, "epoch": state.epoch, "loss": value}
            if state.batch_lrs:
                row["lr"] = state.batch_lrs[i]
            state.batch_history.append(row)

    # ----------------------------------------------------------------- checkpoints
    def checkpoint_state(self) -> dict:
        """Everything needed to continue exactly: tensors and plain data, no pickled objects."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "train_state": self.state.state_dict(),
            "callbacks": self.callbacks.state_dict(),
            "rng": capture_rng_state(),
            **({"ranks": self.parallel.checkpoint_fields()} if self.parallel is not None else {}),
        }

    def load_checkpoint_state(self, checkpoint: dict, source: str = "the checkpoint") -> None:
        """Take back what ``checkpoint_state`` returned; the RNG last, as it was saved."""
        load_weights_into(self.model, checkpoint["model"], source)
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.schedule.load_state_dict(checkpoint["scheduler"])
        self.state = TrainState.from_state_dict(checkpoint["train_state"])
        self.callbacks.load_state_dict(checkpoint["callbacks"])
        restore_rng_state(checkpoint["rng"])
        if self.parallel is not None:  # each rank's own random state; a partial epoch once
            self.parallel.resumed(checkpoint, self.state)


def _sum(values: list[torch.Tensor]) -> torch.Tensor:
    """The sum of device scalars; one value is returned as is (no extra kernel)."""
    return values[0] if len(values) == 1 else torch.stack(values).sum()
