"""The outputs of the latest validation pass, for as long as the model is unchanged.

The epoch's confusion matrix and the run's final evaluation need the model's outputs on the
validation samples, which the validation pass has just computed. Running the model again
costs a whole pass (on 4,000 32×32 frames through three conv blocks, about a third of a
second), so they read the kept outputs instead, but only while the weights are the ones
that made them. No optimizer step since (the global step), no weights loaded (early
stopping restoring its best epoch bumps each tensor's in-place version counter) and no
move to another device (the storage changes): anything else, and the reader computes its
own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def weights_key(model: torch.nn.Module, global_step: int) -> tuple:
    """Equal keys: the same weights and buffers, in the same memory, after the same step.

    The step is part of the key because a fused optimizer writes the weights without
    bumping their version counters.
    """
    tensors = model.state_dict(keep_vars=True).values()
    return (global_step, *((tensor.data_ptr(), tensor._version) for tensor in tensors))


@dataclass(frozen=True)
class KeptOutputs:
    """One validation pass's outputs and the key of the weights that produced them."""

    outputs: torch.Tensor
    weights: tuple

    @classmethod
    def of(cls, model: torch.nn.Module, global_step: int, outputs: torch.Tensor) -> KeptOutputs:
        """``outputs``, which ``model`` has just computed after ``global_step`` steps."""
        return cls(outputs, weights_key(model, global_step))

    def for_model(self, model: torch.nn.Module, global_step: int) -> torch.Tensor | None:
        """The outputs if ``model`` still has those weights at ``global_step``, else None."""
        return self.outputs if weights_key(model, global_step) == self.weights else None
