"""Optimizers from the config (learning-rate schedules: ``schedules.py``)."""

from __future__ import annotations

import torch
from torch import nn

from trainwise.config.schema import Config
from trainwise.training.param_groups import lr_groups


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """The configured optimizer on its fused (or foreach) path.

    Weight decay (``train.weight_decay``, plus ``model.l2`` when ``l2_as: weight_decay``) applies
    to weight matrices only: decaying biases and norm scales hurts and nobody means it.
    ``train.param_groups`` give parameters chosen by name their own learning rate; each such
    group is split into matrices and vectors the same way, the base-rate group first.

    Frozen parameters (``requires_grad`` False) are included: their gradient stays None, so
    every optimizer skips them, and once unfrozen they train without rebuilding anything.

    Args:
        model: the network.
        cfg: the whole config (``train`` and ``model.l2``/``l2_as``).

    Returns:
        The optimizer; its param_groups each carry their own ``lr`` and ``weight_decay``.
    """
    train = cfg.train
    decay = train.weight_decay + (cfg.model.l2 if cfg.model.l2_as == "weight_decay" else 0.0)
    groups = []
    for lr, parameters in lr_groups(model, train):
        groups += [{"params": [p for p in parameters if p.ndim >= 2], "weight_decay": decay,
                    "lr": lr},
                   {"params": [p for p in parameters if p.ndim < 2], "weight_decay": 0.0,
                    "lr": lr}]
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
