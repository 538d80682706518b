"""Keras-style weight penalties added to the training objective."""

from __future__ import annotations

import torch
from torch import nn


class WeightPenalty:
    """``l1 * sum|w| + l2 * sum w^2`` over weight matrices only (not biases or norm scales)."""

    def __init__(self, model: nn.Module, l1: float, l2: float):
        self.weights = [p for p in model.parameters() if p.ndim >= 2]
        self.l1 = l1
        self.l2 = l2

    @property
    def active(self) -> bool:
        return self.l1 > 0 or self.l2 > 0

    def __call__(self) -> torch.Tensor:
        penalty = torch.zeros((), device=self.weights[0].device)
        if self.l1:
            penalty = penalty + self.l1 * sum(w.abs().sum() for w in self.weights)
        if self.l2:
            penalty = penalty + self.l2 * sum(w.square().sum() for w in self.weights)
        return penalty
