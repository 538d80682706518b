"""The small modules a layer list is made of, where torch has no single module for the job.

Each entry of ``model.layers`` becomes exactly one module, so ``layers.3`` in a parameter name
(``model.freeze: ['layers.3.*']``) is always ``model.layers[3]``; a convolution or dense layer
with its activation is therefore one module holding both.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvBlock(nn.Module):
    """A convolution, then its activation if it has one.

    Args:
        conv: an ``nn.Conv1d`` or ``nn.Conv2d``.
        activation: the module applied after it, or None.

    Example:
        >>> block = ConvBlock(nn.Conv1d(2, 4, 3, padding="same"), nn.ReLU())
        >>> block(torch.zeros(5, 2, 10)).shape
        torch.Size([5, 4, 10])
    """

    def __init__(self, conv: nn.Module, activation: nn.Module | None = None):
        super().__init__()
        self.conv = conv
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, ...) -> (N, filters, ...)
        x = self.conv(x)
        return x if self.activation is None else self.activation(x)


class Dense(nn.Module):
    """A fully connected layer that flattens its input first, then its activation if any.

    Args:
        n_inputs: features per sample after flattening.
        units: output features.
        activation: the module applied after it, or None.

    Example:
        >>> Dense(2 * 3, 4)(torch.zeros(5, 2, 3)).shape
        torch.Size([5, 4])
    """

    def __init__(self, n_inputs: int, units: int, activation: nn.Module | None = None):
        super().__init__()
        self.linear = nn.Linear(n_inputs, units)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, ...) -> (N, units)
        x = self.linear(x.flatten(1))
        return x if self.activation is None else self.activation(x)


class GlobalAvgPool(nn.Module):
    """The mean of each channel over its length (1-D) or height and width (2-D).

    Example:
        >>> GlobalAvgPool()(torch.ones(5, 3, 4, 4)).shape
        torch.Size([5, 3])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, ...) -> (N, C)
        return x.mean(dim=tuple(range(2, x.dim())))
