"""The one metric the loop tracks per epoch, summed on the device and read once per epoch."""

from __future__ import annotations

import torch

from trainwise.models.predictive import predictive_normal


class RunningMetric:
    """Per-row sums of the task's headline metric: absolute error or correct predictions.

    Args:
        name: "mae" (regression) or "accuracy" (classification).
        scale: multiplies absolute errors so MAE is in the target's own units when the
            target was standardised for training.
        probabilistic: predictions are Normals, (N, 2) or an ensemble's (N, K, 2), and
            targets (N,) values or (N, 2) site Normals: the MAE is of the means.
    """

    def __init__(self, name: str, scale: float = 1.0, probabilistic: bool = False):
        self.name = name
        self.scale = scale
        self.probabilistic = probabilistic
        # A 0-d CPU tensor multiplies a tensor on any device as a plain number, without the
        # wrapping a Python float gets on every call (the sum is taken once per step).
        self._scale = torch.tensor(float(scale)) if scale != 1.0 else None

    def batch_sum(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Sum over the batch, as a 0-d device tensor (no host sync)."""
        if self.name == "accuracy":
            return (prediction.argmax(dim=-1) == target).sum()
        if self.probabilistic:
            prediction = predictive_normal(prediction)[:, :1]  # (N, 1) the means
            target = target[:, 0] if target.dim() == 2 else target  # (N,)
        # One kernel instead of three: the L1 distance is the sum of absolute errors.
        total = torch.dist(prediction.squeeze(-1), target, p=1)
        return total if self._scale is None else total * self._scale

    def member_sums(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``batch_sum`` for K batched members: (K, B, out) predictions -> (K,) sums.

        Targets are (B,) shared by every member or (K, B); point predictions only.
        """
        if self.name == "accuracy":
            return (prediction.argmax(dim=-1) == target).sum(-1)
        # The L1 norm of the errors is their absolute sum: one kernel instead of two.
        total = torch.linalg.vector_norm(prediction.squeeze(-1) - target, 1, dim=-1)
        return total if self._scale is None else total * self._scale

    def value(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean over all rows (validation), as a 0-d device tensor."""
        return self.batch_sum(prediction, target).float() / max(len(target), 1)
