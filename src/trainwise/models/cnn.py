"""A network built from ``model.layers`` (``model.name: cnn``), each layer sized by trial.

Example config (1-D radar frames of 2 channels × 128 samples, 4 classes)::

    model:
      name: cnn
      layers:
        - {type: conv1d, filters: 16, kernel: 5, activation: relu}
        - {type: maxpool1d, size: 2}
        - {type: conv1d, filters: 32, kernel: 3, activation: relu}
        - {type: globalavgpool}
        - {type: dropout, rate: 0.2}
"""

from __future__ import annotations

import math

import torch
from torch import nn

from trainwise.config.model import LayerSpec
from trainwise.errors import UserError
from trainwise.models.blocks import ConvBlock
from trainwise.models.layer_shapes import check_layer_fits, describe_shape, layer_name
from trainwise.models.layers import build_layer


class LayerStack(nn.Module):
    """The listed layers in order, then the output layer on their flattened output.

    Parameter names follow the config: ``layers.3.*`` is ``model.layers[3]``, ``head.*`` the
    output layer, so ``model.freeze: ['layers.0.*']`` freezes the first listed layer.

    Args:
        layers: one module per entry of ``model.layers``.
        n_features: features per sample of the last layer's output, flattened.
        n_outputs: 1 for regression, the number of classes for classification.

    Example:
        >>> stack = LayerStack([nn.Conv1d(2, 4, 3)], n_features=4 * 8, n_outputs=3)
        >>> stack(torch.zeros(5, 2, 10)).shape
        torch.Size([5, 3])
    """

    def __init__(self, layers: list[nn.Module], n_features: int, n_outputs: int):
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(n_features, n_outputs)
        self._steps = _pool_before_relu(list(self.layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, *sample) -> (N, n_outputs)
        for step in self._steps:
            x = step(x)
        return self.head(x.flatten(1))  # flatten: a no-op on flat outputs


def _pool_before_relu(layers: list[nn.Module]) -> list[nn.Module]:
    """The order to run ``layers`` in: each convolution's ReLU moved after a max-pool that
    directly follows it.

    ``relu(maxpool(x)) == maxpool(relu(x))`` exactly, forwards and backwards (ReLU keeps the
    order of positive values, and where a window's maximum is not positive both give 0 with a
    zero gradient), but the ReLU then touches a quarter of the values (2-D) and the pool's
    backward pass fewer. Only ReLU: a leaky or saturating activation can round two different
    inputs to one value, and the pool could then route the gradient to another position.
    """
    steps: list[nn.Module] = []
    index = 0
    while index < len(layers):
        layer, following = layers[index], layers[index + 1] if index + 1 < len(layers) else None
        if (isinstance(layer, ConvBlock) and isinstance(layer.activation, nn.ReLU)
                and isinstance(following, nn.MaxPool1d | nn.MaxPool2d)):
            steps += [layer.conv, following, layer.activation]
            index += 2
        else:
            steps.append(layer)
            index += 1
    return steps


def build_layer_stack(specs: list[LayerSpec], input_shape: tuple[int, ...], n_outputs: int,
                      leaky_relu_slope: float = 0.01) -> LayerStack:
    """Build ``specs`` in order, each for the shape the layers before it give.

    Args:
        specs: ``model.layers``.
        input_shape: one sample's shape, channels first, e.g. ``(2, 128)`` or ``(3, 32, 32)``.
        n_outputs: outputs of the final layer.
        leaky_relu_slope: ``model.leaky_relu_slope``.

    Returns:
        The network, initialised by torch.

    Raises:
        UserError: a layer does not fit its input's shape (naming the layer and the shape).
    """
    modules, shape = [], tuple(input_shape)
    sample = torch.zeros(1, *shape)  # (1, *shape): what the next layer will be given
    for index, spec in enumerate(specs):
        check_layer_fits(index, spec, shape)
        module = build_layer(spec, shape, leaky_relu_slope)
        sample = _trial_forward(module, sample, f"{layer_name(index, spec)}: its input is "
                                                f"shaped {describe_shape(shape)}")
        shape = tuple(sample.shape[1:])
        modules.append(module)
    return LayerStack(modules, math.prod(shape), n_outputs)


def _trial_forward(module: nn.Module, sample: torch.Tensor, where: str) -> torch.Tensor:
    """``module(sample)``, leaving the module's statistics and the global RNG as they were."""
    module.eval()  # batch norm takes one sample and keeps its running statistics; no dropout
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            return module(sample)
    except RuntimeError as err:  # a misfit the shape checks did not foresee
        raise UserError(f"{where}, which it cannot take ({err}); change the layer or the "
                        "ones before it") from None
    finally:
        module.train()
