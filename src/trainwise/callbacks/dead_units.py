"""Measure the share of ReLU units that never fire on the validation rows ("dead" units)."""

from __future__ import annotations

import torch
from torch import nn

from trainwise.callbacks.base import Callback


class DeadUnitMonitor(Callback):
    """Adds ``dead_units`` to each epoch's record: the share of hidden ReLU units whose output
    is zero for every validation row. After a convolution a unit is a channel: it counts as
    dead when it is zero at every position of every validation row.

    A unit that is dead on all validation rows gets no gradient from them either; a large
    share means the network lost much of its capacity (too high a learning rate, or an
    unlucky initialisation). Does nothing without validation rows or ReLU layers.

    It watches the validation pass the trainer runs anyway: forward hooks on the ReLUs are
    added just before that pass and removed right after it (hooks left on would cost every
    training step), and the share is read with the epoch's other numbers (``log_value``).
    That costs a few small kernels per epoch. A fused step predicts without calling the
    modules, so then the kernel's ReLU blocks are watched instead (``MLPKernel.watch``). A
    loop that validates without the validation hooks (the batched sweep) gets the share from
    a forward pass of this callback's own.

    Example:
        >>> trainer = Trainer(..., callbacks=[DeadUnitMonitor()])   # doctest: +SKIP
        >>> trainer.fit().history[-1]["dead_units"]                 # doctest: +SKIP
        0.0625
    """

    def __init__(self):
        self._relus: list[nn.Module] = []
        self._handles: list = []
        # Ever-active flags per (module, width): one ReLU module reused for two layers of
        # different widths still counts as two layers.
        self._active: dict[tuple, torch.Tensor] = {}
        self._kernel = None  # the fused kernel being watched, if any

    def on_train_begin(self, trainer) -> None:
        self._relus = [module for module in trainer.model.modules()
                       if isinstance(module, nn.ReLU)]

    def on_validation_begin(self, trainer) -> None:
        self._watch(trainer)

    def on_validation_end(self, trainer) -> None:
        share = self._unwatch()
        if share is not None:
            trainer.log_value("dead_units", share)

    def on_epoch_end(self, trainer, record: dict) -> None:
        if "dead_units" in record or trainer.validation is None or not self._relus:
            return
        self._watch(trainer)  # no validation hooks came this epoch: a pass of our own
        try:
            trainer.predict(trainer.validation[0])
        finally:
            share = self._unwatch()
        if share is not None:
            record["dead_units"] = share.item()

    def on_train_end(self, trainer) -> None:
        self._unwatch()  # in case training stopped inside the validation pass

    # ----------------------------------------------------------------- helpers
    def _watch(self, trainer) -> None:
        self._active = {}
        kernel = getattr(trainer.fused_step, "kernel", None)
        if kernel is not None and hasattr(kernel, "watch"):
            kernel.watch(self._remember_block)
            self._kernel = kernel
        else:
            self._handles = [relu.register_forward_hook(self._remember) for relu in self._relus]

    def _unwatch(self) -> torch.Tensor | None:
        """Stop watching; the dead share (0-d, on the device) of what was seen, or None."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self._kernel is not None:
            self._kernel.watch(None)
            self._kernel = None
        if not self._active:
            return None
        flags = torch.cat(list(self._active.values()))  # (all units,)
        self._active = {}
        return 1.0 - flags.float().mean()

    def _remember(self, module: nn.Module, inputs, output: torch.Tensor) -> None:
        if output.dim() > 2:  # (N, C, L) or (N, C, H, W): the channels are the units
            # A reduction in place, not a reshaped copy: conv activations are the largest
            # tensors, and a channels-last one cannot be flattened without copying. A sum,
            # not a maximum: a ReLU's outputs are >= 0, so a channel fired iff its sum is
            # positive, and torch's CPU amax over 16 channels-last channels is ten times slower.
            active = output.sum(dim=(0, *range(2, output.dim()))) > 0  # (C,)
            self._merge((id(module), output.shape[1]), active)
            return
        self._add((id(module), output.shape[-1]), output)

    def _remember_block(self, position: int, activation: str, output: torch.Tensor) -> None:
        if activation == "relu":  # the blocks the module path counts: those with an nn.ReLU
            self._add(("block", position), output)

    def _add(self, key: tuple, output: torch.Tensor) -> None:  # output (..., units)
        self._merge(key, (output > 0).reshape(-1, output.shape[-1]).any(dim=0))  # (units,)

    def _merge(self, key: tuple, active: torch.Tensor) -> None:  # active (units,) bool
        seen = self._active.get(key)
        self._active[key] = active if seen is None else seen | active
