"""A multi-layer perceptron: [GaussianNoise], then Linear -> [BatchNorm] -> activation ->
[Dropout] repeated, then the output Linear."""

from __future__ import annotations

import torch
from torch import nn

from trainwise.models.noise import GaussianNoise


def make_activation(name: str, leaky_relu_slope: float = 0.01) -> nn.Module:
    """An activation module by its config name (see ``config.schema.ACTIVATIONS``)."""
    if name == "leaky_relu":
        return nn.LeakyReLU(leaky_relu_slope)
    return {"relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "tanh": nn.Tanh,
            "selu": nn.SELU, "sigmoid": nn.Sigmoid}[name]()


class MLP(nn.Module):
    """A fully connected network for tabular data.

    Args:
        n_inputs: features per row.
        n_outputs: 1 for regression, the number of classes for classification.
        hidden: sizes of the hidden layers, e.g. ``[64, 64]``.
        activation: a name from ``config.schema.ACTIVATIONS``.
        dropout: probability of zeroing each hidden unit while training.
        batch_norm: normalise each hidden layer's pre-activations.
        input_noise: standard deviation of the Gaussian noise added to the inputs while
            training (0: no noise layer at all).

    Example:
        >>> MLP(7, 1, hidden=[32, 32])(torch.zeros(5, 7)).shape
        torch.Size([5, 1])
    """

    def __init__(self, n_inputs: int, n_outputs: int, hidden: list[int] = (64, 64),
                 activation: str = "relu", leaky_relu_slope: float = 0.01,
                 dropout: float = 0.0, batch_norm: bool = False, input_noise: float = 0.0):
        super().__init__()
        # Its own attribute, not layers[0]: parameter names (layers.0.weight...) stay the
        # same with or without noise, so freeze patterns and init_from work across both.
        self.noise = GaussianNoise(input_noise) if input_noise > 0 else None
        layers: list[nn.Module] = []
        width = n_inputs
        for size in hidden:
            layers.append(nn.Linear(width, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(make_activation(activation, leaky_relu_slope))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, n_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, F) -> (N, n_outputs)
        if self.noise is not None:
            x = self.noise(x)
        return self.layers(x)
