"""The ``train`` section and its blocks: optimizer, scheduler, early stopping, checkpoints..."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from trainwise.config.section import Section, one_of

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
# Epoch schedules step once per epoch; the rest (warmup, warmup_cosine, cyclic, one_cycle)
# after every optimizer step (see training/schedules.py).
SCHEDULERS = ("none", "step", "multistep", "exponential", "cosine", "plateau", "warmup",
              "warmup_cosine", "cyclic", "one_cycle")


class SchedulerConfig(Section):
    # Per epoch: none, step, multistep, exponential, cosine, plateau.
    # Per optimizer step: warmup, warmup_cosine, cyclic, one_cycle.
    name: str = "none"
    step_size: int = Field(10, ge=1)  # step: epochs between decays
    milestones: list[int] = []  # multistep: epochs at which to decay
    gamma: float = Field(0.1, gt=0.0)  # step, multistep, exponential: decay factor
    t_max: int | None = Field(None, ge=1)  # cosine, warmup_cosine, one_cycle: epochs (None: all)
    min_lr: float = Field(0.0, ge=0.0)  # cosine, warmup_cosine, plateau: the floor
    factor: float = Field(0.1, gt=0.0, lt=1.0)  # plateau: multiply lr by this
    patience: int = Field(5, ge=0)  # plateau: epochs without improvement before decaying
    warmup_epochs: float | None = Field(None, gt=0.0)  # warmup(_cosine): ramp to train.lr, epochs
    warmup_steps: int | None = Field(None, ge=1)  # ...or optimizer steps (give one of the two)
    base_lr: float | None = Field(None, gt=0.0)  # cyclic: bottom of each cycle; None = train.lr
    max_lr: float | None = Field(None, gt=0.0)  # cyclic: the top; one_cycle: peak (None = train.lr)
    step_size_up: int | None = Field(None, ge=1)  # cyclic: steps from base to max; None = 2 epochs
    step_size_down: int | None = Field(None, ge=1)  # cyclic: steps back down; None = step_size_up
    # cyclic: triangular; triangular2 halves the amplitude each cycle; exp_range shrinks it per step
    cycle_mode: Literal["triangular", "triangular2", "exp_range"] = "triangular"
    cycle_gamma: float = Field(1.0, gt=0.0, le=1.0)  # cyclic exp_range: amplitude x this per step
    pct_start: float = Field(0.3, gt=0.0, lt=1.0)  # one_cycle: share of steps rising to max_lr
    div_factor: float = Field(25.0, ge=1.0)  # one_cycle: starts at max_lr / div_factor
    final_div_factor: float = Field(1e4, ge=1.0)  # one_cycle: ends at the start rate / this
    cycle_momentum: bool = False  # cyclic, one_cycle: cycle momentum inversely (sgd, rmsprop)
    base_momentum: float = Field(0.85, ge=0.0, lt=1.0)  # ...down to this at peak lr (from momentum)

    @field_validator("name")
    @classmethod
    def _known_scheduler(cls, name: str) -> str:
        return one_of(name, SCHEDULERS, "scheduler")

    @model_validator(mode="after")
    def _check_schedule_fields(self) -> SchedulerConfig:
        if self.name in ("warmup", "warmup_cosine") and (self.warmup_epochs is None) == (
                self.warmup_steps is None):
            raise ValueError(f"scheduler '{self.name}' needs exactly one of warmup_epochs or "
                             "warmup_steps: how long the linear ramp to train.lr lasts")
        if self.name == "cyclic" and self.max_lr is None:
            raise ValueError("scheduler 'cyclic' needs max_lr: the top of each cycle (the "
                             "bottom, base_lr, defaults to train.lr)")
        return self


class EarlyStoppingConfig(Section):
    enabled: bool = True  # stop when the monitored value stops improving
    monitor: str = "val_loss"  # a history key; falls back to 'loss' when there is no validation
    mode: Literal["auto", "min", "max"] = "auto"  # auto: max for accuracy/f1/r2, else min
    patience: int = Field(20, ge=0)  # epochs without improvement before stopping
    min_delta: float = Field(0.0, ge=0.0)  # smallest change that counts as improvement
    restore_best: bool = True  # end with the best epoch's weights, not the last
    min_epochs: int = Field(0, ge=0)  # never stop before this many epochs


class LRFinderConfig(Section):
    start_lr: float = Field(1e-7, gt=0.0)  # the range test ramps the rate from here...
    end_lr: float = Field(10.0, gt=0.0)  # ...to here, exponentially
    steps: int = Field(100, ge=10)  # at most this many optimizer steps
    rule: Literal["valley", "steepest", "min_over_10"] = "valley"  # which suggestion train.lr: auto uses

    @model_validator(mode="after")
    def _check_range(self) -> LRFinderConfig:
        if self.end_lr <= self.start_lr:
            raise ValueError(f"end_lr ({self.end_lr}) must be above start_lr ({self.start_lr})")
        return self


class CheckpointConfig(Section):
    save_best: bool = True  # keep checkpoints/best.pt at the best monitored value
    save_last: bool = True  # keep checkpoints/last.pt (needed to resume)
    # last.pt and best.pt are rewritten at most this often (and always after the final epoch,
    # on stop or interrupt; the best weights wait in memory): a crash loses at most these
    # seconds of training; 0 = after every epoch.
    last_every_s: float = Field(1.0, ge=0.0)


class PseudoLabelConfig(Section):
    enabled: bool = False  # train on the model's own labels for rows with an empty target too
    warmup_epochs: int = Field(10, ge=1)  # epochs on the labelled rows before the first round
    every_epochs: int = Field(10, ge=1)  # epochs per round: relabel every this many epochs
    rounds: int = Field(3, ge=1)  # labellings in all; the last round's labels stay to the end
    threshold: float = Field(0.9, ge=0.0, le=1.0)  # keep rows whose top softmax prob. is >= this
    weight: float = Field(0.5, gt=0.0)  # loss weight of a pseudo-labelled row (labelled: 1)


class ParamGroupConfig(Section):
    params: list[str]  # parameter name patterns (fnmatch, e.g. 'layers.0.*') in this group
    lr: float = Field(gt=0.0)  # this group's learning rate (unmatched parameters: train.lr)

    @field_validator("params", mode="before")
    @classmethod
    def _one_pattern_is_a_list(cls, patterns: Any) -> Any:
        return [patterns] if isinstance(patterns, str) else patterns

    @field_validator("params")
    @classmethod
    def _some_patterns(cls, patterns: list[str]) -> list[str]:
        if not patterns:
            raise ValueError("give at least one parameter name pattern, e.g. 'layers.0.*'")
        return patterns


class TrainConfig(Section):
    optimizer: str = "adam"  # sgd, adam, adamw, rmsprop, adagrad
    lr: float | Literal["auto"] = 1e-3  # learning rate, or "auto": run the LR range test first
    momentum: float = Field(0.0, ge=0.0, lt=1.0)  # sgd, rmsprop
    nesterov: bool = False  # sgd: Nesterov momentum (needs momentum > 0)
    betas: tuple[float, float] = (0.9, 0.999)  # adam, adamw
    eps: float = Field(1e-8, gt=0.0)  # adam, adamw, rmsprop, adagrad
    weight_decay: float = Field(0.0, ge=0.0)  # the optimizer's own decay (decoupled for adamw)
    param_groups: list[ParamGroupConfig] = []  # own lr by parameter name; first match wins
    batch_size: int = Field(32, ge=1)  # rows per forward pass (per optimizer step: x accumulate)
    accumulate: int = Field(1, ge=1)  # batches whose gradients add up to one optimizer step
    mixup: float = Field(0.0, ge=0.0)  # mixup alpha: lambda ~ Beta(alpha, alpha) per batch; 0 = off
    # auto: plain MLPs train by hand-derived kernels without autograd (trainwise.fused) when
    # the options allow, else autograd; the manifest says which ran and why. off: autograd.
    fused: Literal["auto", "off"] = "auto"
    epochs: int = Field(100, ge=1)  # passes over the training split
    grad_clip: float | None = Field(None, gt=0.0)  # clip the global gradient norm to this
    seed: int = 0  # seeds weights, dropout and data order
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"  # where tensors live
    deterministic: bool = False  # torch deterministic algorithms (slower on GPU)
    # Data-parallel runs (torchrun): seconds a rank waits for the others in one collective
    # before the run fails as wedged (rank 0 choosing train.lr: auto counts too).
    ddp_timeout_s: float = Field(300.0, gt=0.0)
    log_batches: bool = True  # keep each batch's loss in the history (read once per epoch)
    scheduler: SchedulerConfig = SchedulerConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    pseudo_label: PseudoLabelConfig = PseudoLabelConfig()
    lr_finder: LRFinderConfig = LRFinderConfig()

    @field_validator("lr")
    @classmethod
    def _positive_lr(cls, lr: float | str) -> float | str:
        if lr != "auto" and lr <= 0:
            raise ValueError("the learning rate must be greater than 0, or 'auto' to run the "
                             "LR range test first")
        return lr

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        return one_of(name, OPTIMIZERS, "optimizer")

    @model_validator(mode="after")
    def _check_nesterov(self) -> TrainConfig:
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise ValueError("nesterov needs optimizer 'sgd' and momentum above 0")
        return self

    @model_validator(mode="after")
    def _check_schedule(self) -> TrainConfig:
        schedule = self.scheduler
        base_lr = schedule.base_lr or self.lr
        if schedule.name == "cyclic" and base_lr != "auto" and schedule.max_lr <= base_lr:
            raise ValueError(f"scheduler.max_lr ({schedule.max_lr}) must be above the cycle's "
                             f"bottom, scheduler.base_lr or train.lr ({base_lr}); raise max_lr")
        length = schedule.t_max or self.epochs
        if schedule.name == "warmup_cosine" and (schedule.warmup_epochs or 0) >= length:
            raise ValueError(f"scheduler.warmup_epochs ({schedule.warmup_epochs}) leaves no "
                             f"epochs for the cosine within {length}; lower it")
        if schedule.cycle_momentum and schedule.name in ("cyclic", "one_cycle"):
            if self.optimizer not in ("sgd", "rmsprop"):
                # Adam's beta1 is not momentum in the sense the cycle assumes; leave it alone.
                raise ValueError(f"scheduler.cycle_momentum needs optimizer sgd or rmsprop "
                                 f"(not {self.optimizer}); set cycle_momentum: false")
            if self.momentum <= schedule.base_momentum:
                raise ValueError(f"scheduler.cycle_momentum cycles from train.momentum "
                                 f"({self.momentum}) down to scheduler.base_momentum "
                                 f"({schedule.base_momentum}); set momentum above base_momentum")
        return self
