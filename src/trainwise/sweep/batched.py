"""Train the members of a sweep as one batched model, each keeping the record of its own run.

Every member is a full ``Session`` (its run directory, callbacks, early stopping, checkpoints,
history), but none of them runs its own loop: ``BatchedTraining`` takes one batched fused
step for all members per batch, validates them together, reads the epoch's numbers once, and
then hands each member its epoch record and calls that member's callbacks as its own
``Trainer`` would. Before the callbacks run, the member's weights, batch norm statistics and
optimizer state are copied into its own model and optimizer, so its checkpoints, best weights
and ``last.pt`` are those of an ordinary run: a member resumes alone with ``trainwise resume``.

A member that stops (early stopping, a Stop request) is frozen: its row no longer changes.
Per-batch hooks run once per epoch here (after the epoch's last batch), and a Ctrl-C ends
training at the end of the current epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from trainwise.callbacks import DeadUnitMonitor
from trainwise.fused.member_optim import take_member_optimizer_state
from trainwise.fused.step import BatchedFusedStep, optimizer_options
from trainwise.session import Session
from trainwise.training.interrupt import stop_on_interrupt
from trainwise.training.state import TrainState


class BatchedTraining:
    """K member sessions of one architecture, trained as one batched model.

    Args:
        sessions: the members' sessions (``open_session``), whose configs differ only where
            ``sweep.plan.batch_problem`` allows, all on the fused path.
    """

    def __init__(self, sessions: list[Session]):
        self.sessions = sessions
        self.trainers = [session.trainer for session in sessions]
        first = self.trainers[0]
        options = [optimizer_options(session.cfg) for session in sessions]
        self.step = BatchedFusedStep.from_config(
            [session.model for session in sessions], sessions[0].cfg, first.loss_fn,
            lr=[option["lr"] for option in options],
            weight_decay=[option["weight_decay"] for option in options])
        # Resumed members bring their moments and step counts (fresh ones have none yet).
        for k, trainer in enumerate(self.trainers):
            if trainer.state.global_step:
                take_member_optimizer_state(self.step.optimizer, k, trainer.fused_step.optimizer,
                                            trainer.fused_step.layout.n_matrix)
        self.active = [True] * len(sessions)
        # Each member's batch norm buffers, in module order (a module walk costs ~14 µs).
        self.member_buffers = [list(session.model.buffers()) for session in sessions]
        # One seed for all: one data order, so the rows are shared instead of stacked.
        self.shared_order = len({trainer.batches.seed for trainer in self.trainers}) == 1
        self.interrupt = TrainState()  # Ctrl-C sets its flag (stop_on_interrupt)
        # The members' DeadUnitMonitors would each run a forward pass per epoch; the batched
        # validation pass measures every member's share at once instead.
        self.count_dead_units = any(isinstance(callback, DeadUnitMonitor)
                                    for callback in first.callbacks.callbacks)
        # Called after every epoch with the number of members still training (progress).
        self.on_epoch: Callable[[int], object] | None = None

    def fit(self) -> None:
        """Train every member until its epochs are done or it stops; record each as it goes."""
        for session, trainer in zip(self.sessions, self.trainers):
            if session.continue_stopped:  # as ``Trainer.fit``: see ``resume_run``
                trainer.state.stop_training, trainer.state.stop_reason = False, None
            trainer.callbacks.call("on_train_begin", trainer)
        # A resumed sweep's members that had already ended (early stopping) stay frozen.
        self.active = [not trainer.finishing for trainer in self.trainers]
        self.step.set_active(self.active)
        with stop_on_interrupt(self.interrupt):
            while any(self.active):
                self._epoch()
                if self.on_epoch is not None:
                    self.on_epoch(sum(self.active))
                if self.interrupt.interrupted:
                    break
        for trainer in self.trainers:
            trainer.state.interrupted |= self.interrupt.interrupted
            trainer.callbacks.call("on_train_end", trainer)

    # ----------------------------------------------------------------- one epoch
    def _epoch(self) -> None:
        members = [k for k, flag in enumerate(self.active) if flag]
        for k in members:
            trainer = self.trainers[k]
            trainer.state.reset_epoch_accumulators()
            trainer.callbacks.call("on_epoch_begin", trainer)
            trainer.state.epoch_lr = trainer.lr
        self._take_member_rates()
        started = time.perf_counter()
        epoch = self.trainers[members[0]].state.epoch
        first = self.trainers[0]
        per_step_schedule = first.schedule.per_step
        grad_norm = None
        step_losses, step_sums, step_rows, step_lrs = [], [], [], []
        for position, (features, targets, weights) in enumerate(self._batches(epoch)):
            losses, prediction = self.step(features, targets, weights,
                                           measure_grad_norm=position == 0)  # (K,), (K, B, out)
            if position == 0:
                grad_norm = self.step.grad_norm.clone()
            # Kept as they come and added up once, as ``TrainState.read_epoch`` does.
            step_losses.append(losses)
            step_sums.append(first.metric.member_sums(prediction, targets))
            step_rows.append(targets.shape[-1])
            if per_step_schedule:
                step_lrs.append([trainer.lr for trainer in self.trainers])
                for k in members:
                    self.trainers[k].schedule.after_step()
                self._take_member_rates()
        validation = self._validate()  # (2 or 3, K) or None
        named = [grad_norm.reshape(-1), *(validation if validation is not None else [])]
        # The epoch's one read from the device, for every member at once: (2 S + named, K).
        table = torch.stack([*step_losses, *step_sums, *named]).tolist()
        steps, rows = len(step_losses), sum(step_rows)
        seconds = time.perf_counter() - started
        for k in members:
            losses = [row[k] for row in table[:steps]]
            loss = sum(value * count for value, count in zip(losses, step_rows)) / rows
            metric = sum(row[k] for row in table[steps:2 * steps]) / rows
            self._end_member_epoch(k, [loss, metric, *(row[k] for row in table[2 * steps:])],
                                   seconds, losses if first.log_batches else None,
                                   [lrs[k] for lrs in step_lrs], step_losses[-1][k])
        self.step.set_active(self.active)

    def _batches(self, epoch: int):
        """The epoch's batches: shared (B, F) rows, or each member's own rows stacked (K, B, F)."""
        if self.shared_order:
            yield from self.trainers[0].batches.epoch(epoch)
            return
        for parts in zip(*(trainer.batches.epoch(epoch) for trainer in self.trainers)):
            features, targets, weights = zip(*parts)
            yield (torch.stack(features), torch.stack(targets),
                   None if weights[0] is None else torch.stack(weights))

    @torch.inference_mode()
    def _validate(self) -> torch.Tensor | None:
        """(2, K): each member's validation loss and metric, on the device; None without.
        With dead units counted, (3, K): their share is the third row."""
        first = self.trainers[0]
        if first.validation is None:
            return None
        features, targets = first.validation
        size = first.eval_batch_size
        # Per ReLU block, (K, width): whether each unit fired for any validation row.
        fired: dict[int, torch.Tensor] = {}

        def remember(position: int, activation: str, output: torch.Tensor) -> None:
            if activation == "relu":  # the units DeadUnitMonitor counts
                active = (output > 0).any(dim=1)
                fired[position] = active if position not in fired else fired[position] | active

        self.step.kernel.watch(remember if self.count_dead_units else None)
        try:
            prediction = torch.cat([self.step.predict(features[start:start + size])
                                    for start in range(0, len(features), size)],
                                   dim=1)  # (K, N, out)
        finally:
            self.step.kernel.watch(None)
        # The members' own loss function and metric, as their Trainer would score them.
        values = [torch.stack([first.loss_fn(member_prediction, targets),
                               first.metric.value(member_prediction, targets)])
                  for member_prediction in prediction]
        values = torch.stack(values, dim=1)
        if fired:
            dead = 1.0 - torch.cat(list(fired.values()), dim=1).float().mean(dim=1)  # (K,)
            values = torch.cat([values, dead.unsqueeze(0)])
        return values

    def _end_member_epoch(self, k: int, values: list[float], seconds: float,
                          step_losses: list[float] | None, step_lrs: list[float],
                          last_loss: torch.Tensor) -> None:
        """Give member k its epoch as ``Trainer.end_epoch`` would, then run its callbacks
        (``on_batch_end`` with the loss of the epoch's last batch)."""
        trainer, state = self.trainers[k], self.trainers[k].state
        steps = len(step_losses) if step_losses is not None else len(trainer.batches)
        state.epoch += 1
        state.global_step += steps
        record = {"epoch": state.epoch, "loss": values[0], trainer.metric.name: values[1]}
        if len(values) > 3:
            record.update({"val_loss": values[3], f"val_{trainer.metric.name}": values[4]})
        record.update({"lr": state.epoch_lr, "grad_norm": values[2], "epoch_time_s": seconds})
        if len(values) > 5:  # last, as a logged value comes in ``Trainer.end_epoch``
            record["dead_units"] = values[5]
        state.history.append(record)
        if step_losses is not None:
            first_step = state.global_step - steps + 1
            for offset, loss in enumerate(step_losses):
                row = {"step": first_step + offset, "epoch": state.epoch, "loss": loss}
                if step_lrs:
                    row["lr"] = step_lrs[offset]
                state.batch_history.append(row)
        trainer.schedule.after_epoch(record)
        self._give_member_its_weights(k)
        state.interrupted = state.interrupted or self.interrupt.interrupted
        trainer.callbacks.call("on_batch_end", trainer, last_loss)
        trainer.callbacks.call("on_epoch_end", trainer, record)
        if trainer.finishing:
            self.active[k] = False

    # ----------------------------------------------------------------- member state
    def _take_member_rates(self) -> None:
        """The members' schedules set their own optimizers' rates (and momentum); copy them."""
        for group, trainer in zip(self.step.optimizer.param_groups, self.trainers):
            source = trainer.optimizer.param_groups[0]
            for key in ("lr", "betas", "momentum"):
                if key in source and key in group and group[key] != source[key]:
                    group[key] = source[key]

    def _give_member_its_weights(self, k: int) -> None:
        """Member k's weights, batch norm statistics and optimizer state into its own model."""
        fused = self.trainers[k].fused_step
        fused.flat.copy_(self.step.flat[k])
        # By position: a member's buffer names differ from the first's when its dropout does.
        for buffer, stacked in zip(self.member_buffers[k], self.step.buffers.values()):
            buffer.copy_(stacked[k])
        copy_member_optimizer_state(self.step.optimizer, k, fused.optimizer, fused.layout.n_matrix)


def copy_member_optimizer_state(source, member: int, target: torch.optim.Optimizer,
                                split: int) -> None:
    """Member ``member``'s moments and step count from a ``MemberOptimizer`` into the single
    model's fused optimizer (groups: matrices ``[:split]``, then vectors ``[split:]``)."""
    names = ("momentum_buffer",) if source.kind == "sgd" else ("exp_avg", "exp_avg_sq")
    pieces = (slice(None, split), slice(split, None))
    for group, piece in zip(target.param_groups, pieces):
        parameter = group["params"][0]
        state = target.state[parameter]
        for name, block in zip(names, source.blocks):
            _copy_into(state, name, block[member, piece])
        if source.kind != "sgd":
            _copy_into(state, "step", source.steps[member])


def _copy_into(state: dict, name: str, value: torch.Tensor) -> None:
    if name in state:
        state[name].copy_(value)
    else:
        state[name] = value.clone()

