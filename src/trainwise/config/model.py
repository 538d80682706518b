"""The ``model`` section: the network, its initialisation, and fine-tuning (freeze, init_from).

``model.layers`` (for ``model.name: cnn``) is a Keras-Sequential-style list of layers, each a
mapping with a ``type`` and that type's own keys; ``LAYER_TYPES`` names one small class per
type. Only the settings are checked here; whether the shapes fit is known once the input's
shape is (``models.layers``), still before training.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal, Union

from pydantic import Field, ValidationError, field_validator, model_validator

from trainwise.config.section import Section, one_of

MODELS = ("mlp", "cnn", "resnet", "unet", "pixel_mlp")
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


# ----------------------------------------------------------------- layer specs (model.layers)
class _Layer(Section):
    """Base of every layer spec: ``type`` picks the class, the other keys are its settings."""

    type: str

    def label(self) -> str:
        """The layer in a few words for messages, e.g. ``maxpool2d, size 2``."""
        return self.type


class _ActivatedLayer(_Layer):
    activation: str | None = None  # an activation name applied after the layer; None: linear

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, name: str | None) -> str | None:
        return None if name is None else one_of(name, ACTIVATIONS, "activation")


class _ConvLayer(_ActivatedLayer):
    filters: int = Field(ge=1)  # output channels
    kernel: int = Field(ge=1)  # kernel size (length, or height = width)
    stride: int = Field(1, ge=1)
    # 'same' keeps the size (divided by the stride), 'valid' pads nothing, or pixels per side.
    padding: Literal["same", "valid"] | Annotated[int, Field(ge=0)] = "same"

    def label(self) -> str:
        return f"{self.type}, {self.filters} filters, kernel {self.kernel}"


class Conv1dLayer(_ConvLayer):
    type: Literal["conv1d"]  # input (channels, length)


class Conv2dLayer(_ConvLayer):
    type: Literal["conv2d"]  # input (channels, height, width)


class _PoolLayer(_Layer):
    size: int = Field(ge=1)  # window size (length, or height = width)
    stride: int | None = Field(None, ge=1)  # None: the window size (windows do not overlap)

    def label(self) -> str:
        return f"{self.type}, size {self.size}"


class MaxPool1dLayer(_PoolLayer):
    type: Literal["maxpool1d"]


class MaxPool2dLayer(_PoolLayer):
    type: Literal["maxpool2d"]


class AvgPool1dLayer(_PoolLayer):
    type: Literal["avgpool1d"]


class AvgPool2dLayer(_PoolLayer):
    type: Literal["avgpool2d"]


class GlobalAvgPoolLayer(_Layer):
    type: Literal["globalavgpool"]  # the mean of each channel: (C, ...) -> (C,)


class BatchNormLayer(_Layer):
    type: Literal["batchnorm"]  # 1-D, 2-D or over features, by the input's shape


class DropoutLayer(_Layer):
    type: Literal["dropout"]
    rate: float = Field(ge=0.0, lt=1.0)  # probability of zeroing each value while training

    def label(self) -> str:
        return f"dropout, rate {self.rate}"


class ActivationLayer(_Layer):
    type: Literal["activation"]
    name: str  # relu, leaky_relu, elu, gelu, tanh, selu, sigmoid
    slope: float | None = Field(None, ge=0.0)  # leaky_relu only; None: model.leaky_relu_slope

    @field_validator("name")
    @classmethod
    def _known_activation(cls, name: str) -> str:
        return one_of(name, ACTIVATIONS, "activation")

    @model_validator(mode="after")
    def _slope_for_leaky_relu_only(self) -> ActivationLayer:
        if self.slope is not None and self.name != "leaky_relu":
            raise ValueError(f"slope applies to leaky_relu only; remove it or set name: "
                             f"leaky_relu (got name: {self.name})")
        return self

    def label(self) -> str:
        return f"activation, {self.name}"


class FlattenLayer(_Layer):
    type: Literal["flatten"]  # (C, ...) -> (C * ...,)


class DenseLayer(_ActivatedLayer):
    type: Literal["dense"]  # flattens its input first if it is not flat
    units: int = Field(ge=1)

    def label(self) -> str:
        return f"dense, {self.units} units"


LAYER_TYPES: dict[str, type[_Layer]] = {
    "conv1d": Conv1dLayer, "conv2d": Conv2dLayer, "maxpool1d": MaxPool1dLayer,
    "maxpool2d": MaxPool2dLayer, "avgpool1d": AvgPool1dLayer, "avgpool2d": AvgPool2dLayer,
    "globalavgpool": GlobalAvgPoolLayer, "batchnorm": BatchNormLayer, "dropout": DropoutLayer,
    "activation": ActivationLayer, "flatten": FlattenLayer, "dense": DenseLayer,
}
LayerSpec = Annotated[Union[tuple(LAYER_TYPES.values())], Field(discriminator="type")]


def read_layer(index: int, item: Any) -> _Layer:
    """One entry of ``model.layers`` as its spec class.

    Args:
        index: its position in the list, for the message.
        item: the entry as written: a mapping with a ``type`` (or a spec already).

    Returns:
        The validated spec.

    Raises:
        ValueError: the entry is not a mapping, has no known type, or has bad keys; the
            message starts with ``model.layers[index]`` and gives the fix.
    """
    where = f"model.layers[{index}]"
    if isinstance(item, _Layer):
        return item
    if not isinstance(item, dict):
        raise ValueError(f"{where}: each layer is a mapping of a type and its settings, e.g. "
                         f"{{type: conv2d, filters: 16, kernel: 3}}, not {item!r}")
    kind = item.get("type")
    if kind not in LAYER_TYPES:
        problem = "has no 'type'" if kind is None else f"unknown layer type {kind!r}"
        raise ValueError(f"{where}: {problem}{_did_you_mean(kind, LAYER_TYPES)}; choose one "
                         f"of: {', '.join(LAYER_TYPES)}")
    spec_class = LAYER_TYPES[kind]
    try:
        return spec_class.model_validate(item)
    except ValidationError as err:
        problems = [_key_problem(problem, spec_class) for problem in err.errors()]
        raise ValueError(f"{where} ({kind}): {'; '.join(problems)}") from None


def _key_problem(problem: dict, spec_class: type[_Layer]) -> str:
    """One pydantic complaint about a layer's key, in the config's words."""
    key = ".".join(str(part) for part in problem["loc"])
    keys = [name for name in spec_class.model_fields if name != "type"]
    if problem["type"] == "extra_forbidden":
        return (f"unknown key '{key}'{_did_you_mean(key, keys)}; its keys are: "
                f"{', '.join(keys) or 'none besides type'}")
    if problem["type"] == "missing":
        return f"'{key}' is required"
    message = problem["msg"].removeprefix("Value error, ")
    return f"{key}: {message} (got {problem.get('input')!r})" if key else message


def _did_you_mean(word: Any, valid) -> str:
    close = difflib.get_close_matches(str(word), list(valid), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close and word is not None else ""


# ----------------------------------------------------------------- the section
class ModelConfig(Section):
    # 'mlp', 'cnn' (the network of model.layers), 'resnet' (a small residual CNN), 'unet'
    # (semantic segmentation: class logits per pixel of a multi-band raster), 'pixel_mlp'
    # (the mlp of model.hidden on each pixel's bands alone: a segmentation yardstick), or
    # 'package.module:ClassName' for your own nn.Module
    name: str = "mlp"
    hidden: list[int] = [64, 64]  # hidden layer sizes of the mlp
    # cnn: the layers in order, e.g. [{type: conv1d, filters: 16, kernel: 5, activation: relu},
    # {type: maxpool1d, size: 2}, {type: dense, units: 32, activation: relu}]; the output
    # layer (one unit per output) follows by itself.
    layers: list[LayerSpec] = []
    # resnet: channels of each stage, a residual block of two 3x3 convolutions (stride 2 from
    # the second stage on); then global average pooling, model.dropout and the output layer.
    widths: list[int] = [16, 32, 64]
    # unet: down-sampling levels (max-pool 2 each); chip height and width must be multiples
    # of 2**depth.
    depth: int = Field(3, ge=1, le=6)
    width: int = Field(16, ge=1)  # unet: filters of the first level, doubled at each level
    # mlp, resnet and unet: relu, leaky_relu, elu, gelu, tanh, selu, sigmoid
    activation: str = "relu"
    leaky_relu_slope: float = Field(0.01, ge=0.0)  # negative slope for leaky_relu
    # mlp: dropout after each hidden activation; resnet: before the output layer; unet:
    # Dropout2d (whole channels) after the bottleneck.
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    batch_norm: bool = False  # mlp: after each hidden linear layer; unet: after each 3x3 conv
    # Weight initialisation (default = PyTorch's, xavier/glorot, kaiming/he, orthogonal);
    # left out, probabilistic_regression uses xavier_normal (the TimberID lab's choice).
    init: str = "default"
    l1: float = Field(0.0, ge=0.0)  # L1 penalty on weights, added to the loss
    l2: float = Field(0.0, ge=0.0)  # L2 strength on weights
    l2_as: Literal["penalty", "weight_decay"] = "penalty"  # Keras-style loss term, or decay
    kwargs: dict[str, Any] = {}  # keyword arguments for your own nn.Module
    init_from: str | None = None  # run directory whose final weights start this run (fine-tune)
    init_from_strict: bool = True  # every tensor must fit (else an error); false: load what fits
    # raster, with init_from (not strict) from a run on other bands: new band name -> the
    # source run's band whose first-convolution weights it starts from, e.g. {nir: red,
    # swir1: red}; a source band shared by k bands is divided by k. Left out: same-named
    # bands copy theirs and new ones start at zero (or, no name in common, the source's
    # bands repeat in turn); see training/band_transfer.py.
    band_map: dict[str, str] = {}
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

    @field_validator("layers", mode="before")
    @classmethod
    def _read_layers(cls, layers: Any) -> Any:
        if not isinstance(layers, list):
            return layers  # pydantic's own "should be a valid list"
        specs, problems = [], []
        for index, item in enumerate(layers):
            try:
                specs.append(read_layer(index, item))
            except ValueError as err:
                problems.append(str(err))
        if problems:
            # One line per layer: the loader indents its list of problems by four spaces.
            raise ValueError("\n    ".join(problems))
        return specs

    @field_validator("widths")
    @classmethod
    def _positive_widths(cls, widths: list[int]) -> list[int]:
        if not widths or min(widths) < 1:
            raise ValueError("give one channel count (at least 1) per stage, e.g. [16, 32, 64]")
        return widths

    @model_validator(mode="after")
    def _check_layer_list(self) -> ModelConfig:
        if self.name == "cnn" and not self.layers:
            raise ValueError("model.name cnn builds the network from model.layers, which is "
                             "empty; list the layers, e.g. layers: [{type: conv1d, filters: 16, "
                             "kernel: 5, activation: relu}, {type: globalavgpool}]")
        if self.name != "cnn" and self.layers:
            raise ValueError(f"model.layers applies to model.name: cnn only (model.name is "
                             f"'{self.name}'); set model.name: cnn, or remove model.layers")
        if self.name == "cnn" and (self.dropout or self.batch_norm):
            # The mlp's options would be silently ignored: the layer list says everything.
            raise ValueError("model.dropout and model.batch_norm are the mlp's and the "
                             "unet's (dropout also the resnet's); for a cnn put {type: "
                             "dropout, rate: 0.2} or {type: batchnorm} into model.layers "
                             "instead")
        return self

    @model_validator(mode="after")
    def _check_transfer_options(self) -> ModelConfig:
        if self.band_map and not self.init_from:
            raise ValueError("model.band_map maps this run's bands to those of the run that "
                             "model.init_from names, but model.init_from is not set; set it "
                             "to the run trained on the other bands, or remove model.band_map")
        if self.band_map and self.init_from_strict:
            raise ValueError("model.band_map adapts the first convolution to other bands, "
                             "which a strict model.init_from never does (it loads every "
                             "tensor as it is); set model.init_from_strict: false, or remove "
                             "model.band_map")
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
