"""What the loop minimises: the task's loss, plus optional L1/L2 penalties on weights."""

from __future__ import annotations

import torch
from torch import nn

from trainwise.config.schema import TaskConfig


def build_loss(task_cfg: TaskConfig, class_weights: torch.Tensor | None = None) -> nn.Module:
    """The task's loss as a module returning the mean over the batch.

    Class weights (classification) apply to the validation loss too, so the two curves
    measure the same thing.
    """
    if task_cfg.type == "classification":
        return nn.CrossEntropyLoss(weight=class_weights, label_smoothing=task_cfg.label_smoothing)
    if task_cfg.loss == "mae":
        return RegressionLoss(nn.L1Loss())
    if task_cfg.loss == "huber":
        return RegressionLoss(nn.HuberLoss(delta=task_cfg.huber_delta))
    return RegressionLoss(nn.MSELoss())


class RegressionLoss(nn.Module):
    """Compares (N, 1) predictions with (N,) targets without silent broadcasting to (N, N)."""

    def __init__(self, loss: nn.Module):
        super().__init__()
        self.loss = loss

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss(prediction.squeeze(-1), target)


def balanced_class_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """sklearn's 'balanced' weights: n_rows / (n_classes * rows_in_class)."""
    counts = torch.bincount(labels, minlength=n_classes).clamp(min=1).to(torch.float32)
    return labels.numel() / (n_classes * counts)


class WeightPenalty:
    """Keras-style regularisers: ``l1 * sum|w| + l2 * sum w^2`` over weight matrices only."""

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
