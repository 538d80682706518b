"""Regression losses on (N, 1) predictions and (N,) targets."""

from __future__ import annotations

import torch.nn.functional as F

from trainwise.training.losses.base import RowLoss


class MSELoss(RowLoss):
    def per_row(self, prediction, target):
        return F.mse_loss(prediction.squeeze(-1), target, reduction="none")

    def mean(self, prediction, target):
        # squeeze: (N, 1) against (N,) would silently broadcast to (N, N).
        return F.mse_loss(prediction.squeeze(-1), target)


class MAELoss(RowLoss):
    def per_row(self, prediction, target):
        return F.l1_loss(prediction.squeeze(-1), target, reduction="none")

    def mean(self, prediction, target):
        return F.l1_loss(prediction.squeeze(-1), target)


class HuberLoss(RowLoss):
    def __init__(self, delta: float = 1.0):
        super().__init__()
        self.delta = delta

    def per_row(self, prediction, target):
        return F.huber_loss(prediction.squeeze(-1), target, reduction="none", delta=self.delta)

    def mean(self, prediction, target):
        return F.huber_loss(prediction.squeeze(-1), target, delta=self.delta)
