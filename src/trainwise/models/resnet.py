"""A small residual CNN (``model.name: resnet``) for images, or 1-D frames.

One stage per ``model.widths`` entry, each a residual block (He et al. 2016, the CIFAR
variant without a stem); stride 2 from the second stage halves the size each time. Then
global average pooling, ``model.dropout`` and the output layer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from trainwise.errors import UserError
from trainwise.models.blocks import GlobalAvgPool
from trainwise.models.layer_shapes import describe_shape
from trainwise.models.mlp import make_activation

_CONVS = {1: nn.Conv1d, 2: nn.Conv2d}  # by spatial dimensions
_NORMS = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}


class ResidualBlock(nn.Module):
    """conv 3 -> norm -> act -> conv 3 -> norm, plus the input (projected if its shape
    changes), then act.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        stride: 2 halves the length (or height and width); the shortcut does the same.
        dims: 1 for frames (N, C, L), 2 for images (N, C, H, W).
        activation: makes a fresh activation module (one per use, so each is counted apart).

    Example:
        >>> block = ResidualBlock(3, 8, stride=2, dims=2, activation=nn.ReLU)
        >>> block(torch.zeros(4, 3, 16, 16)).shape
        torch.Size([4, 8, 8, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, dims: int,
                 activation: Callable[[], nn.Module]):
        super().__init__()
        conv, norm = _CONVS[dims], _NORMS[dims]
        # No conv biases: the batch norm after each one has its own shift.
        self.conv1 = conv(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.norm1 = norm(out_channels)
        self.act1 = activation()
        self.conv2 = conv(out_channels, out_channels, 3, padding=1, bias=False)
        self.norm2 = norm(out_channels)
        self.shortcut = None  # the identity, when the shapes match
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                conv(in_channels, out_channels, 1, stride=stride, bias=False), norm(out_channels))
        self.act2 = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C_in, ...) -> (N, C_out, ...)
        y = self.act1(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return self.act2(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nn.Module):
    """Residual stages, global average pooling, dropout, then the output layer.

    Parameter names: ``stages.0.*`` (the first stage), ... and ``head.*``.

    Args:
        in_channels: channels of the input (the first axis of a sample).
        n_outputs: 1 for regression, the number of classes for classification.
        widths: channels of each stage, e.g. ``[16, 32, 64]``.
        dims: 1 for frames (C, L), 2 for images (C, H, W).
        activation: a name from ``config.model.ACTIVATIONS``.
        leaky_relu_slope: leaky_relu's negative slope.
        dropout: probability of zeroing each pooled feature while training.

    Example:
        >>> ResNet(3, 10, [8, 16])(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: int, n_outputs: int, widths: list[int] = (16, 32, 64),
                 dims: int = 2, activation: str = "relu", leaky_relu_slope: float = 0.01,
                 dropout: float = 0.0):
        super().__init__()
        blocks, channels = [], in_channels
        for stage, width in enumerate(widths):
            blocks.append(ResidualBlock(channels, width, 1 if stage == 0 else 2, dims,
                                        lambda: make_activation(activation, leaky_relu_slope)))
            channels = width
        self.stages = nn.Sequential(*blocks)
        self.pool = GlobalAvgPool()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.head = nn.Linear(channels, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, ...) -> (N, n_outputs)
        x = self.pool(self.stages(x))  # (N, widths[-1])
        if self.dropout is not None:
            x = self.dropout(x)
        return self.head(x)


def build_resnet(input_shape: tuple[int, ...], n_outputs: int, widths: list[int],
                 activation: str = "relu", leaky_relu_slope: float = 0.01,
                 dropout: float = 0.0) -> ResNet:
    """A ``ResNet`` for samples of ``input_shape`` (channels first).

    Raises:
        UserError: the samples are neither images (C, H, W) nor frames (C, L).
    """
    shape = tuple(input_shape)
    if len(shape) not in (2, 3):
        raise UserError(f"model.name resnet takes images (channels, height, width) or 1-D "
                        f"frames (channels, length), but the inputs are shaped "
                        f"{describe_shape(shape)}; use model.name: mlp for feature vectors")
    return ResNet(shape[0], n_outputs, widths, len(shape) - 1, activation, leaky_relu_slope,
                  dropout)
