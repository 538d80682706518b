"""Losses by config name. Every loss follows ``RowLoss``: ``loss(prediction, target, weight=None)``."""

from __future__ import annotations

import torch

from trainwise.config.schema import TaskConfig
from trainwise.training.losses.base import RowLoss
from trainwise.training.losses.cross_entropy import CrossEntropyLoss
from trainwise.training.losses.regression import HuberLoss, MAELoss, MSELoss

__all__ = ["CrossEntropyLoss", "HuberLoss", "MAELoss", "MSELoss", "RowLoss",
           "balanced_class_weights", "build_loss"]


def build_loss(task_cfg: TaskConfig, class_weights: torch.Tensor | None = None) -> RowLoss:
    """The task's loss. Class weights apply to training and validation loss alike."""
    if task_cfg.type == "classification":
        return CrossEntropyLoss(class_weights, task_cfg.label_smoothing)
    if task_cfg.loss == "mae":
        return MAELoss()
    if task_cfg.loss == "huber":
        return HuberLoss(task_cfg.huber_delta)
    return MSELoss()


def balanced_class_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """scikit-learn's 'balanced' weights: n_rows / (n_classes * rows_in_class)."""
    counts = torch.bincount(labels, minlength=n_classes).clamp(min=1).to(torch.float32)
    return labels.numel() / (n_classes * counts)
