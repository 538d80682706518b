"""Losses by config name. Every loss follows ``RowLoss``: ``loss(prediction, target, weight=None)``."""

from __future__ import annotations

import torch

from trainwise.config.schema import TaskConfig
from trainwise.training.losses.base import RowLoss
from trainwise.training.losses.cross_entropy import CrossEntropyLoss
from trainwise.training.losses.focal import FocalLoss
from trainwise.training.losses.gaussian import BetaNLL, GaussianKL, GaussianNLL
from trainwise.training.losses.members import MemberMean
from trainwise.training.losses.pixels import IGNORE_LABEL, PixelLoss, pixel_class_weights
from trainwise.training.losses.regression import HuberLoss, MAELoss, MSELoss
from trainwise.training.losses.topk import TopKLoss
from trainwise.training.losses.tversky import DiceLoss, TverskyLoss
from trainwise.training.losses.weighted_sum import WeightedSumLoss

__all__ = ["BetaNLL", "GaussianKL", "GaussianNLL", "MemberMean", "CrossEntropyLoss", "DiceLoss", "FocalLoss", "HuberLoss", "MAELoss", "MSELoss",
           "IGNORE_LABEL", "PixelLoss", "RowLoss", "TopKLoss", "TverskyLoss", "WeightedSumLoss",
           "balanced_class_weights", "build_loss", "pixel_class_weights"]


def build_loss(task_cfg: TaskConfig, class_weights: torch.Tensor | None = None,
               focal_alpha: torch.Tensor | None = None) -> RowLoss:
    """The task's loss: one by name, or a weighted sum for a ``{name: weight}`` mapping.

    Class weights (and focal's alpha) apply to training and validation loss alike.

    Args:
        task_cfg: the validated task section.
        class_weights: (classes,) weights for every classification loss, or None.
        focal_alpha: (classes,) focal alpha factors, or None.

    Returns:
        A ``RowLoss``; a ``WeightedSumLoss`` unless ``task.loss`` is a single name at weight 1.
    """
    terms = task_cfg.loss if isinstance(task_cfg.loss, dict) else {task_cfg.loss: 1.0}
    losses = {name: (coefficient, _single_loss(name, task_cfg, class_weights, focal_alpha))
              for name, coefficient in terms.items()}
    if len(losses) == 1 and next(iter(terms.values())) == 1.0:
        loss = next(iter(losses.values()))[1]
    else:
        loss = WeightedSumLoss(losses)
    # Ensembles predict (N, K, 2): each member is scored on its own.
    return MemberMean(loss) if task_cfg.type == "probabilistic_regression" else loss


def _single_loss(name: str, task_cfg: TaskConfig, class_weights: torch.Tensor | None,
                 focal_alpha: torch.Tensor | None) -> RowLoss:
    """One loss by its config name (names were validated with the config)."""
    if name == "cross_entropy":
        return CrossEntropyLoss(class_weights, task_cfg.label_smoothing)
    if name == "focal":
        return FocalLoss(task_cfg.focal_gamma, focal_alpha, class_weights,
                         task_cfg.label_smoothing)
    if name == "dice":
        return DiceLoss(task_cfg.dice_smooth, class_weights)
    if name == "tversky":
        return TverskyLoss(task_cfg.tversky_alpha, task_cfg.tversky_beta, task_cfg.dice_smooth,
                           class_weights)
    if name == "topk":
        return TopKLoss(CrossEntropyLoss(class_weights, task_cfg.label_smoothing),
                        task_cfg.topk_fraction)
    if name == "gaussian_nll":
        return GaussianNLL()
    if name == "beta_nll":
        return BetaNLL(task_cfg.beta)
    if name == "kl":
        return GaussianKL(task_cfg.kl_samples, task_cfg.kl_symmetric)
    if name == "mae":
        return MAELoss()
    if name == "huber":
        return HuberLoss(task_cfg.huber_delta)
    return MSELoss()


def balanced_class_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """scikit-learn's 'balanced' weights: n_rows / (n_classes * rows_in_class)."""
    counts = torch.bincount(labels, minlength=n_classes).clamp(min=1).to(torch.float32)
    return labels.numel() / (n_classes * counts)
