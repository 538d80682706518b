"""The ``model`` section: the network, its initialisation, and fine-tuning (freeze, init_from)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from trainwise.config.section import Section, one_of

MODELS = ("mlp",)
ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "tanh", "selu", "sigmoid")
INITS = (
    "default",
    "xavier_uniform",
    "xavier_normal",
    "glorot_uniform",
    "glorot_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "he_uniform",
    "he_normal",
    "orthogonal",
)


class ModelConfig(Section):
    name: str = "mlp"  # 'mlp', or 'package.module:ClassName' for your own nn.Module
    hidden: list[int] = [64, 64]  # hidden layer sizes of the mlp
    activation: str = "relu"  # relu, leaky_relu, elu, gelu, tanh, selu, sigmoid
    leaky_relu_slope: float = Field(0.01, ge=0.0)  # negative slope for leaky_relu
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # dropout after each hidden activation
    batch_norm: bool = False  # batch norm after each hidden linear layer
    # Weight initialisation (default = PyTorch's, xavier/glorot, kaiming/he, orthogonal);
    # left out, probabilistic_regression uses xavier_normal (the TimberID lab's choice).
    init: str = "default"
    l1: float = Field(0.0, ge=0.0)  # L1 penalty on weights, added to the loss
    l2: float = Field(0.0, ge=0.0)  # L2 strength on weights
    l2_as: Literal["penalty", "weight_decay"] = "penalty"  # Keras-style loss term, or decay
    kwargs: dict[str, Any] = {}  # keyword arguments for your own nn.Module
    init_from: str | None = None  # run directory whose final weights start this run (fine-tune)
    init_from_strict: bool = True  # every tensor must fit (else an error); false: load what fits
    freeze: list[str] = []  # parameter name patterns (fnmatch, e.g. 'layers.0.*') that don't train
    unfreeze: dict[int, list[str]] = {}  # {epoch: patterns}: frozen ones train from that epoch on
    input_noise: float = Field(0.0, ge=0.0)  # mlp: std of noise added to inputs in training; 0 off
    min_variance: float = Field(1e-6, gt=0.0)  # probabilistic_regression: variance floor (scaled)
    # probabilistic_regression: members of a deep ensemble (independent inits, trained side by
    # side, combined as a mixture); 1 = a single network.
    ensemble: int = Field(1, ge=1)

    @field_validator("freeze", mode="before")
    @classmethod
    def _one_pattern_is_a_list(cls, patterns: Any) -> Any:
        return [patterns] if isinstance(patterns, str) else patterns

    @field_validator("unfreeze", mode="before")
    @classmethod
    def _one_pattern_per_epoch_is_a_list(cls, schedule: Any) -> Any:
        if not isinstance(schedule, dict):
            return schedule
        return {epoch: [patterns] if isinstance(patterns, str) else patterns
                for epoch, patterns in schedule.items()}

    @field_validator("unfreeze")
    @classmethod
    def _unfreeze_epochs(cls, schedule: dict[int, list[str]]) -> dict[int, list[str]]:
        early = sorted(epoch for epoch in schedule if epoch < 2)
        if early:
            raise ValueError(f"epochs {early}: epochs count from 1, and unfreezing in epoch 1 "
                             "is not freezing at all; remove those patterns from model.freeze "
                             "instead, or give an epoch of 2 or more")
        empty = sorted(epoch for epoch, patterns in schedule.items() if not patterns)
        if empty:
            raise ValueError(f"epochs {empty} list no patterns; give the parameters to "
                             "unfreeze, e.g. {10: ['layers.2.*']}, or remove the epoch")
        return schedule

    @model_validator(mode="after")
    def _check_transfer_options(self) -> ModelConfig:
        if self.unfreeze and not self.freeze:
            raise ValueError("model.unfreeze needs model.freeze: nothing is frozen, so nothing "
                             "can be unfrozen; list the parameters to freeze first")
        if self.input_noise and self.name != "mlp":
            raise ValueError("model.input_noise applies to the built-in mlp only; add a "
                             "trainwise.models.noise.GaussianNoise layer to your own module "
                             "instead, and set model.input_noise: 0")
        return self

    @field_validator("name")
    @classmethod
    def _known_model(cls, name: str) -> str:
        if name not in MODELS and ":" not in name:
            raise ValueError(f"unknown model '{name}'; choose one of: {', '.join(MODELS)}, "
                             "or give your own nn.Module as 'package.module:ClassName'")
        return name

    @field_validator("hidden")
    @classmethod
    def _positive_sizes(cls, hidden: list[int]) -> list[int]:
        bad = [size for size in hidden if size < 1]
        if bad:
            raise ValueError("hidden sizes must be at least 1; remove or raise the "
                             f"entries {bad}")
        return hidden

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, name: str) -> str:
        return one_of(name, ACTIVATIONS, "activation")

    @field_validator("init")
    @classmethod
    def _known_init(cls, name: str) -> str:
        return one_of(name, INITS, "initialisation")
