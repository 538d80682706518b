"""Optimizers and learning-rate schedules from the config."""

from __future__ import annotations

import torch
from torch import nn

from trainwise.config.schema import Config, SchedulerConfig


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """The configured optimizer on its fused (or foreach) path.

    Weight decay (``train.weight_decay``, plus ``model.l2`` when ``l2_as: weight_decay``) applies
    to weight matrices only: decaying biases and norm scales hurts and nobody means it.
    """
    train = cfg.train
    decay = train.weight_decay + (cfg.model.l2 if cfg.model.l2_as == "weight_decay" else 0.0)
    matrices = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    vectors = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": matrices, "weight_decay": decay},
              {"params": vectors, "weight_decay": 0.0}]
    groups = [group for group in groups if group["params"]]
    if train.optimizer == "sgd":
        return _fast(torch.optim.SGD, groups, lr=train.lr, momentum=train.momentum,
                     nesterov=train.nesterov)
    if train.optimizer in ("adam", "adamw"):
        optimizer_class = torch.optim.Adam if train.optimizer == "adam" else torch.optim.AdamW
        return _fast(optimizer_class, groups, lr=train.lr, betas=train.betas, eps=train.eps)
    if train.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=train.lr, momentum=train.momentum, eps=train.eps,
                                   foreach=True)
    return torch.optim.Adagrad(groups, lr=train.lr, eps=train.eps, foreach=True)


def _fast(optimizer_class, groups, **options) -> torch.optim.Optimizer:
    """Prefer the fused kernel (one call per step); fall back to foreach where it is missing."""
    try:
        return optimizer_class(groups, fused=True, **options)
    except (RuntimeError, TypeError, ValueError):
        return optimizer_class(groups, foreach=True, **options)


def build_scheduler(optimizer: torch.optim.Optimizer, scheduler_cfg: SchedulerConfig,
                    epochs: int):
    """The configured epoch-stepped schedule, or None. ``plateau`` needs the monitored value."""
    name = scheduler_cfg.name
    if name == "none":
        return None
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, scheduler_cfg.step_size,
                                               scheduler_cfg.gamma)
    if name == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, scheduler_cfg.milestones,
                                                    scheduler_cfg.gamma)
    if name == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, scheduler_cfg.gamma)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, scheduler_cfg.t_max or epochs, eta_min=scheduler_cfg.min_lr)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=scheduler_cfg.factor, patience=scheduler_cfg.patience,
        min_lr=scheduler_cfg.min_lr)
