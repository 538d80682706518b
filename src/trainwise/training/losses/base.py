"""The loss contract: ``loss(prediction, target, weight=None) -> scalar``.

Without row weights a loss returns the usual batch mean (PyTorch's own reduction, so numbers
match plain PyTorch). With ``weight`` of shape (N,) it returns ``sum(w_i * l_i) / sum(w_i * c_i)``
where ``c_i`` is row i's class weight (1 without class weights): pseudo-labelled rows count
for less, and class weights keep PyTorch's meaning.
"""

from __future__ import annotations

import torch
from torch import nn


class RowLoss(nn.Module):
    """Base class: subclasses give ``per_row`` (N,) losses and may override ``mean``."""

    def per_row(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def mean(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.per_row(prediction, target).mean()

    def row_scale(self, target: torch.Tensor) -> torch.Tensor | None:
        """Each row's class weight, for the weighted mean's denominator (None: all 1)."""
        return None

    def forward(self, prediction: torch.Tensor, target: torch.Tensor,
                weight: torch.Tensor | None = None) -> torch.Tensor:
        if weight is None:
            return self.mean(prediction, target)
        scale = self.row_scale(target)
        denominator = (weight * scale).sum() if scale is not None else weight.sum()
        return (self.per_row(prediction, target) * weight).sum() / denominator
