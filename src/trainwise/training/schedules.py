"""Learning-rate schedules from the config, and when each one steps.

Epoch schedules (step, multistep, exponential, cosine, plateau) step once per epoch, after
validation. Step schedules (warmup, warmup_cosine, cyclic, one_cycle) step after every
optimizer step: their shape lives within epochs. ``Schedule`` hides the difference, so the
loop calls ``after_step()`` and ``after_epoch(record)`` and never asks which kind it has.

The step schedules' rates (``max_lr``, ``base_lr``, warmup_cosine's ``min_lr``) are for
``train.lr``; parameter groups with their own rate are scaled alike, so their ratio to
``train.lr`` holds throughout.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    CyclicLR,
    ExponentialLR,
    LambdaLR,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    StepLR,
)

from trainwise.config.schema import TrainConfig

STEP_SCHEDULES = ("warmup", "warmup_cosine", "cyclic", "one_cycle")


class Schedule:
    """A torch LR scheduler together with when it steps.

    Args:
        scheduler: the torch scheduler, or None for a constant rate.
        per_step: step after every optimizer step (else once per epoch).
        monitor: the history key a plateau scheduler watches.

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        >>> schedule = Schedule(StepLR(optimizer, step_size=1, gamma=0.5))
        >>> optimizer.step(); schedule.after_step(); optimizer.param_groups[0]["lr"]
        1.0
        >>> schedule.after_epoch({"epoch": 1}); optimizer.param_groups[0]["lr"]
        0.5
    """

    def __init__(self, scheduler=None, per_step: bool = False, monitor: str = "val_loss"):
        self.scheduler = scheduler
        self.per_step = per_step and scheduler is not None
        self.monitor = monitor

    def after_step(self) -> None:
        """Called after every optimizer step; moves step schedules on."""
        if self.per_step and not self._past_horizon():
            self.scheduler.step()

    def after_epoch(self, record: dict) -> None:
        """Called after each epoch's validation with its history record; moves epoch schedules."""
        if self.scheduler is None or self.per_step:
            return
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(record[self.monitor])
        else:
            self.scheduler.step()

    def _past_horizon(self) -> bool:
        # OneCycleLR raises if stepped past its total; a run resumed beyond it keeps the final
        # (lowest) rate instead, as the other schedules do past their horizon.
        return (isinstance(self.scheduler, OneCycleLR)
                and self.scheduler.last_epoch >= self.scheduler.total_steps - 1)

    def state_dict(self) -> dict | None:
        """The scheduler's position (plain data: loadable with ``weights_only=True``)."""
        return self.scheduler.state_dict() if self.scheduler is not None else None

    def load_state_dict(self, saved: dict | None) -> None:
        if self.scheduler is not None and saved is not None:
            self.scheduler.load_state_dict(saved)


class WarmupCosine:
    """LambdaLR factor at optimizer step ``step`` (0-based): a linear warmup, then a cosine.

    The warmup rises in ``warmup`` equal steps, reaching the full rate on step ``warmup - 1``
    (no step is wasted at rate 0). Then the factor follows half a cosine from 1 down to
    ``floor`` at step ``total`` and stays there. ``total=None`` keeps the full rate after the
    warmup (plain warmup).

    A callable object rather than a closure: LambdaLR saves its attributes in the state dict,
    so a resumed run keeps its original horizon, like every other schedule.

    Example:
        >>> factor = WarmupCosine(warmup=4, total=8, floor=0.0)
        >>> [round(factor(step), 3) for step in range(9)]
        [0.25, 0.5, 0.75, 1.0, 1.0, 0.854, 0.5, 0.146, 0.0]
    """

    def __init__(self, warmup: int, total: int | None = None, floor: float = 0.0):
        self.warmup = warmup
        self.total = total
        self.floor = floor

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.total is None:
            return 1.0
        progress = min((step - self.warmup) / max(self.total - self.warmup, 1), 1.0)
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_schedule(optimizer: torch.optim.Optimizer, train: TrainConfig, steps_per_epoch: int,
                   monitor: str = "val_loss", monitor_mode: str = "min") -> Schedule:
    """The configured schedule over ``optimizer``.

    Args:
        optimizer: built with ``train.lr`` (a number by now: ``lr: auto`` is resolved first).
        train: the train section; its ``scheduler`` says which schedule.
        steps_per_epoch: optimizer steps per epoch (batches / accumulate, rounded up), to turn
            epochs into steps for the step schedules.
        monitor, monitor_mode: what a plateau schedule watches, and whether lower is better.
    """
    cfg = train.scheduler
    epochs = cfg.t_max or train.epochs
    if cfg.name == "none":
        return Schedule()
    if cfg.name == "step":
        return Schedule(StepLR(optimizer, cfg.step_size, cfg.gamma))
    if cfg.name == "multistep":
        return Schedule(MultiStepLR(optimizer, cfg.milestones, cfg.gamma))
    if cfg.name == "exponential":
        return Schedule(ExponentialLR(optimizer, cfg.gamma))
    if cfg.name == "cosine":
        return Schedule(CosineAnnealingLR(optimizer, epochs, eta_min=cfg.min_lr))
    if cfg.name == "plateau":
        return Schedule(ReduceLROnPlateau(optimizer, mode=monitor_mode, factor=cfg.factor,
                                          patience=cfg.patience, min_lr=cfg.min_lr),
                        monitor=monitor)
    if cfg.name in ("warmup", "warmup_cosine"):
        warmup = cfg.warmup_steps or max(round(cfg.warmup_epochs * steps_per_epoch), 1)
        total = epochs * steps_per_epoch if cfg.name == "warmup_cosine" else None
        factor = WarmupCosine(warmup, total, floor=cfg.min_lr / train.lr)
        return Schedule(LambdaLR(optimizer, factor), per_step=True)
    momentum = _momentum_range(train)
    if cfg.name == "cyclic":
        up = cfg.step_size_up or 2 * steps_per_epoch
        return Schedule(CyclicLR(
            optimizer, _scaled(optimizer, train, cfg.base_lr or train.lr),
            _scaled(optimizer, train, cfg.max_lr), step_size_up=up,
            step_size_down=cfg.step_size_down, mode=cfg.cycle_mode, gamma=cfg.cycle_gamma,
            **momentum), per_step=True)
    return Schedule(OneCycleLR(
        optimizer, _scaled(optimizer, train, cfg.max_lr or train.lr),
        total_steps=epochs * steps_per_epoch, pct_start=cfg.pct_start,
        div_factor=cfg.div_factor, final_div_factor=cfg.final_div_factor, **momentum),
        per_step=True)


def optimizer_steps_per_epoch(batches_per_epoch: int, accumulate: int) -> int:
    """Optimizer steps per epoch: a last, shorter group of batches still makes a step."""
    return -(-batches_per_epoch // accumulate)


def _scaled(optimizer: torch.optim.Optimizer, train: TrainConfig, rate: float) -> list[float]:
    """``rate`` for each parameter group, in proportion to the group's rate over ``train.lr``."""
    return [rate * group["lr"] / train.lr for group in optimizer.param_groups]


def _momentum_range(train: TrainConfig) -> dict:
    """CyclicLR/OneCycleLR momentum options: off, or from ``base_momentum`` to ``momentum``.

    Off unless asked: torch would otherwise impose its own 0.8-0.95 momentum on SGD, or cycle
    Adam's beta1 (the config refuses cycle_momentum for the Adam family).
    """
    cfg = train.scheduler
    if not cfg.cycle_momentum:
        return {"cycle_momentum": False}
    return {"cycle_momentum": True, "base_momentum": cfg.base_momentum,
            "max_momentum": train.momentum}
