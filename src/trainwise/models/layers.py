"""One ``nn.Module`` per entry of ``model.layers``, built for its input's shape."""

from __future__ import annotations

import math

from torch import nn

from trainwise.config.model import LayerSpec
from trainwise.models.blocks import ConvBlock, Dense, GlobalAvgPool
from trainwise.models.max_pool import MaxPool2d
from trainwise.models.mlp import make_activation

_CONVS = {"conv1d": nn.Conv1d, "conv2d": nn.Conv2d}
_POOLS = {"maxpool1d": nn.MaxPool1d, "maxpool2d": MaxPool2d,
          "avgpool1d": nn.AvgPool1d, "avgpool2d": nn.AvgPool2d}
# Batch norm by input rank: features (N, F) and 1-D frames (N, C, L) share BatchNorm1d.
_NORMS = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d}


def build_layer(spec: LayerSpec, shape: tuple[int, ...], leaky_relu_slope: float) -> nn.Module:
    """The module for ``spec`` taking inputs of ``shape`` (check ``check_layer_fits`` first).

    Args:
        spec: one entry of ``model.layers``.
        shape: its input's shape, one sample, channels first.
        leaky_relu_slope: ``model.leaky_relu_slope``, for leaky_relu without a slope of its own.

    Returns:
        A fresh module (initialised by torch; ``initialize_weights`` comes later).
    """
    if spec.type in _CONVS:
        return ConvBlock(_conv(spec, shape[0]), _activation(spec.activation, leaky_relu_slope))
    if spec.type in _POOLS:
        return _POOLS[spec.type](spec.size, spec.stride)
    if spec.type == "dense":
        return Dense(math.prod(shape), spec.units,
                     _activation(spec.activation, leaky_relu_slope))
    if spec.type == "activation":
        slope = leaky_relu_slope if spec.slope is None else spec.slope
        return make_activation(spec.name, slope)
    if spec.type == "batchnorm":
        return _NORMS[len(shape)](shape[0])
    if spec.type == "dropout":
        return nn.Dropout(spec.rate)
    if spec.type == "globalavgpool":
        return GlobalAvgPool()
    if spec.type == "flatten":
        return nn.Flatten()
    raise ValueError(f"no builder for layer type {spec.type!r}")  # a type added to the config only


def _conv(spec: LayerSpec, in_channels: int) -> nn.Module:
    padding = spec.padding
    if padding == "same" and spec.stride > 1:
        # torch's 'same' needs stride 1; kernel // 2 per side gives Keras' ceil(size / stride)
        # for odd kernels (even kernels may give one more).
        padding = spec.kernel // 2
    elif padding == "valid":
        padding = 0
    return _CONVS[spec.type](in_channels, spec.filters, spec.kernel, spec.stride, padding)


def _activation(name: str | None, leaky_relu_slope: float) -> nn.Module | None:
    return None if name is None else make_activation(name, leaky_relu_slope)
