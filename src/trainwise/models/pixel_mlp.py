"""A per-pixel MLP for segmentation (``model.name: pixel_mlp``): each pixel's bands alone.

The same MLP as ``model.name: mlp`` (``model.hidden``, activation, dropout, batch norm),
applied to every pixel independently as 1×1 convolutions, so it sees a pixel's spectrum and
nothing around it: the yardstick that shows how much a UNet gains from spatial context
(texture, shape, neighbours).
"""

from __future__ import annotations

from torch import nn

from trainwise.errors import UserError
from trainwise.models.mlp import make_activation


def build_pixel_mlp(input_shape: tuple[int, ...], n_outputs: int, hidden: list[int],
                    activation: str, leaky_relu_slope: float, dropout: float,
                    batch_norm: bool) -> nn.Sequential:
    """(N, C, H, W) -> (N, n_outputs, H, W) class logits, one pixel at a time.

    Example:
        >>> import torch
        >>> build_pixel_mlp((6, 8, 8), 5, [16], "relu", 0.01, 0.0, False)(
        ...     torch.zeros(2, 6, 8, 8)).shape
        torch.Size([2, 5, 8, 8])
    """
    if len(input_shape) != 3:
        raise UserError(f"model.name pixel_mlp classifies the pixels of images (channels, height, "
                        f"width), but the inputs are shaped {tuple(input_shape)}; use model.name "
                        "mlp for feature vectors")
    layers, width = [], input_shape[0]
    for units in hidden:
        layers.append(nn.Conv2d(width, units, 1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(units))
        layers.append(make_activation(activation, leaky_relu_slope))
        if dropout:
            layers.append(nn.Dropout2d(dropout))
        width = units
    layers.append(nn.Conv2d(width, n_outputs, 1))
    return nn.Sequential(*layers)
