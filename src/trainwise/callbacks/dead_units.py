"""Measure the share of ReLU units that never fire on the validation rows ("dead" units)."""

from __future__ import annotations

import torch
from torch import nn

from trainwise.callbacks.base import Callback


class DeadUnitMonitor(Callback):
    """Adds ``dead_units`` to each epoch's record: the share of hidden ReLU units whose output
    is zero for every validation row.

    A unit that is dead on all validation rows gets no gradient from them either; a large
    share means the network lost much of its capacity (too high a learning rate, or an
    unlucky initialisation). Costs one extra forward pass over the validation rows per epoch;
    does nothing without validation rows or ReLU layers.
    """

    def on_epoch_end(self, trainer, record: dict) -> None:
        relus = [module for module in trainer.model.modules() if isinstance(module, nn.ReLU)]
        if trainer.validation is None or not relus:
            return
        # Keyed by module and width, so one ReLU module reused for two layers still adds up.
        ever_active: dict[tuple[int, int], torch.Tensor] = {}

        def remember(module, inputs, output):
            active = (output > 0).reshape(-1, output.shape[-1]).any(dim=0)  # (units,)
            key = (id(module), output.shape[-1])
            ever_active[key] = ever_active.get(key, active) | active

        handles = [relu.register_forward_hook(remember) for relu in relus]
        try:
            trainer.predict(trainer.validation[0])
        finally:
            for handle in handles:
                handle.remove()
        flags = torch.cat(list(ever_active.values()))
        record["dead_units"] = 1.0 - flags.float().mean().item()
