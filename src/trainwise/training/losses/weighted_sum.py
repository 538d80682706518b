"""A weighted sum of losses, e.g. ``{cross_entropy: 1.0, dice: 0.5}``."""

from __future__ import annotations

import torch
from torch import nn

from trainwise.training.losses.base import RowLoss


class WeightedSumLoss(RowLoss):
    """``sum_k weight_k * loss_k(prediction, target, weight)``.

    Each term reduces the batch its own way (a per-row mean, or a set loss such as Dice) and
    receives the same row weights; the sum then mixes the reduced values.

    Args:
        terms: config name -> (coefficient, loss).

    Example:
        >>> from trainwise.training.losses.regression import MAELoss, MSELoss
        >>> loss = WeightedSumLoss({"mse": (1.0, MSELoss()), "mae": (0.5, MAELoss())})
        >>> loss(torch.tensor([[2.0]]), torch.tensor([0.0])).item()
        5.0
    """

    def __init__(self, terms: dict[str, tuple[float, RowLoss]]):
        super().__init__()
        self.coefficients = {name: coefficient for name, (coefficient, _) in terms.items()}
        self.terms = nn.ModuleDict({name: loss for name, (_, loss) in terms.items()})

    def per_row(self, prediction, target):
        return sum(self.coefficients[name] * loss.per_row(prediction, target)
                   for name, loss in self.terms.items())

    def forward(self, prediction: torch.Tensor, target: torch.Tensor,
                weight: torch.Tensor | None = None) -> torch.Tensor:
        return sum(self.coefficients[name] * loss(prediction, target, weight)
                   for name, loss in self.terms.items())
