"""The one metric the loop tracks per epoch, summed on the device and read once per epoch."""

from __future__ import annotations

import torch

from trainwise.models.predictive import predictive_normal
from trainwise.training.losses.pixels import IGNORE_LABEL


class RunningMetric:
    """Per-row sums of the task's headline metric: absolute error or correct predictions.

    "pixel_accuracy" (segmentation) scores (N, K, *spatial) logits against (N, *spatial)
    labels, ``IGNORE_LABEL`` pixels left out. Its row is a chip: ``batch_sum`` is the batch's
    pixel accuracy times its chips, so the epoch mean (batch sums over chips) weighs batches
    by their chips, and ``value`` is the pixel accuracy of all the pixels it is given.

    Args:
        name: "mae" (regression), "accuracy" (classification) or "pixel_accuracy".
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
        if self.name == "pixel_accuracy":
            return _pixel_accuracy(prediction, target) * target.shape[0]
        if self.probabilistic:
            prediction = predictive_normal(prediction)[:, :1]  # (N, 1) the means
            target = target[:, 0] if target.dim() == 2 else target  # (N,)
        # One kernel instead of three: the L1 distance is the sum of absolute errors.
        total = torch.dist(prediction.squeeze(-1), target, p=1)
        return total if self._scale is None else total * self._scale

    def member_sums(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``batch_sum`` for K batched members: (K, B, out) predictions -> (K,) sums.

        Targets are (B,) shared by every member or (K, B); point predictions only.

        Raises:
            NotImplementedError: for "pixel_accuracy" (batched sweeps run fused MLPs only).
        """
        if self.name == "pixel_accuracy":
            raise NotImplementedError("pixel_accuracy has no batched-member sums: batched "
                                      "sweeps train fused MLPs, not segmentation models")
        if self.name == "accuracy":
            return (prediction.argmax(dim=-1) == target).sum(-1)
        # The L1 norm of the errors is their absolute sum: one kernel instead of two.
        total = torch.linalg.vector_norm(prediction.squeeze(-1) - target, 1, dim=-1)
        return total if self._scale is None else total * self._scale

    def value(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean over all rows (validation), as a 0-d device tensor."""
        if self.name == "pixel_accuracy":
            # The ratio itself, not batch_sum / N: times N over N can be off by a rounding.
            return _pixel_accuracy(prediction, target)
        return self.batch_sum(prediction, target).float() / max(len(target), 1)


def _pixel_accuracy(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Correct valid pixels / valid pixels (0 without any), a 0-d float device tensor."""
    # argmax is never IGNORE_LABEL (-1), so an ignored pixel is never counted correct.
    correct = (prediction.argmax(dim=1) == target).sum()
    valid = (target != IGNORE_LABEL).sum().clamp(min=1)
    return correct / valid
