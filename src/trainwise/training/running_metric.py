"""The one metric the loop tracks per epoch, summed on the device and read once per epoch."""

from __future__ import annotations

import torch


class RunningMetric:
    """Per-row sums of the task's headline metric: absolute error or correct predictions.

    Args:
        name: "mae" (regression) or "accuracy" (classification).
        scale: multiplies absolute errors so MAE is in the target's own units when the
            target was standardised for training.
    """

    def __init__(self, name: str, scale: float = 1.0):
        self.name = name
        self.scale = scale

    def batch_sum(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Sum over the batch, as a 0-d device tensor (no host sync)."""
        if self.name == "accuracy":
            return (prediction.argmax(dim=-1) == target).sum()
        return (prediction.squeeze(-1) - target).abs().sum() * self.scale

    def value(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean over all rows (validation), as a 0-d device tensor."""
        return self.batch_sum(prediction, target).float() / max(len(target), 1)
