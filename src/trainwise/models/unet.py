"""A UNet (``model.name: unet``) for semantic segmentation: class logits for every pixel.

Ronneberger et al. 2015 with 'same' convolutions, so the output has the input's height and
width: a first block of two 3x3 convolutions, ``model.depth`` times max-pool 2 and another
block (``model.width * 2**level`` filters; the deepest is the bottleneck, followed by
``model.dropout``), then back up with 2x2 transposed convolutions, each joined with the
encoder's output of the same size, and a 1x1 convolution to one channel per class.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import torch
from torch import nn

from trainwise.errors import UserError
from trainwise.models.layer_shapes import describe_shape
from trainwise.models.max_pool import MaxPool2d
from trainwise.models.mlp import make_activation


class DoubleConv(nn.Sequential):
    """conv 3 -> [batch norm] -> act -> conv 3 -> [batch norm] -> act, keeping the size.

    Parameter names: ``conv1.*``, ``norm1.*``, ``conv2.*``, ``norm2.*`` (norms with batch_norm).

    Example:
        >>> DoubleConv(4, 8, "relu", 0.01, batch_norm=True)(torch.zeros(2, 4, 16, 16)).shape
        torch.Size([2, 8, 16, 16])
    """

    def __init__(self, in_channels: int, out_channels: int, activation: str,
                 leaky_relu_slope: float, batch_norm: bool):
        layers = OrderedDict()
        for i, channels in ((1, in_channels), (2, out_channels)):
            # No conv bias before a batch norm: the norm has its own shift.
            layers[f"conv{i}"] = nn.Conv2d(channels, out_channels, 3, padding=1,
                                           bias=not batch_norm)
            if batch_norm:
                layers[f"norm{i}"] = nn.BatchNorm2d(out_channels)
            layers[f"act{i}"] = make_activation(activation, leaky_relu_slope)
        super().__init__(layers)


class UNetEncoder(nn.Module):
    """``levels.0`` .. ``levels.{depth-1}`` (their outputs are the skips), then the
    ``bottleneck`` and its dropout; a max-pool 2 before every block but the first."""

    def __init__(self, in_channels: int, depth: int, width: int, dropout: float, **block):
        super().__init__()
        widths = [width * 2**level for level in range(depth + 1)]
        self.levels = nn.ModuleList(DoubleConv(c_in, c_out, **block) for c_in, c_out
                                    in zip([in_channels, *widths[:-2]], widths[:-1]))
        self.pool = MaxPool2d(2)
        self.bottleneck = DoubleConv(widths[-2], widths[-1], **block)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for level, block in enumerate(self.levels):
            x = block(x if level == 0 else self.pool(x))
            skips.append(x)
        x = self.bottleneck(self.pool(x))
        return (x if self.dropout is None else self.dropout(x)), skips


class UNetDecoder(nn.Module):
    """Per level, from the deepest up: ``ups.{level}`` (transposed conv 2x2, stride 2,
    halving the channels), joined with the encoder's skip, then ``levels.{level}``. Indexed
    like the encoder, so ``decoder.levels.0`` works at full size like ``encoder.levels.0``."""

    def __init__(self, depth: int, width: int, **block):
        super().__init__()
        widths = [width * 2**level for level in range(depth + 1)]
        self.ups = nn.ModuleList(nn.ConvTranspose2d(widths[level + 1], widths[level], 2,
                                                    stride=2) for level in range(depth))
        # Each block takes the skip and the up-sampled tensor side by side: twice its width.
        self.levels = nn.ModuleList(DoubleConv(2 * widths[level], widths[level], **block)
                                    for level in range(depth))

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        for level in reversed(range(len(self.levels))):
            x = torch.cat([skips[level], self.ups[level](x)], dim=1)
            x = self.levels[level](x)
        return x


class UNet(nn.Module):
    """Encoder, decoder and a 1x1 convolution: (N, C, H, W) -> (N, n_outputs, H, W) logits.

    Parameter names: ``encoder.*`` (``encoder.levels.0.conv1.weight`` first, the bottleneck
    included), ``decoder.*`` and ``head.*``; ``model.freeze: ['encoder.*']`` freezes the
    encoder.

    Args:
        in_channels: bands of the input raster.
        n_outputs: classes per pixel.
        depth: down-sampling levels; height and width must be multiples of ``2**depth``.
        width: filters of the first level, doubled at each level down.
        activation: a name from ``config.model.ACTIVATIONS``.
        leaky_relu_slope: leaky_relu's negative slope.
        dropout: probability of zeroing each bottleneck channel while training (Dropout2d).
        batch_norm: batch norm after each 3x3 convolution.

    Example:
        >>> UNet(5, 3, depth=2, width=8)(torch.zeros(2, 5, 32, 32)).shape
        torch.Size([2, 3, 32, 32])
    """

    def __init__(self, in_channels: int, n_outputs: int, depth: int = 3, width: int = 16,
                 activation: str = "relu", leaky_relu_slope: float = 0.01,
                 dropout: float = 0.0, batch_norm: bool = False):
        super().__init__()
        block = {"activation": activation, "leaky_relu_slope": leaky_relu_slope,
                 "batch_norm": batch_norm}
        self.depth = depth
        self.encoder = UNetEncoder(in_channels, depth, width, dropout, **block)
        self.decoder = UNetDecoder(depth, width, **block)
        self.head = nn.Conv2d(width, n_outputs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, K, H, W)
        # Checked here too: prediction may bring rasters of another size than training.
        check_divisible(tuple(x.shape[-2:]), self.depth)
        x, skips = self.encoder(x)
        return self.head(self.decoder(x, skips))

    @property
    def first_conv(self) -> nn.Conv2d:
        """The convolution that reads the input; its ``in_channels`` is the band count."""
        return self.encoder.levels[0].conv1

    def encoder_parameters(self) -> Iterator[nn.Parameter]:
        """The encoder's parameters, bottleneck included."""
        return self.encoder.parameters()

    def decoder_parameters(self) -> Iterator[nn.Parameter]:
        """The decoder's and the head's parameters: all that ``encoder_parameters`` leaves."""
        yield from self.decoder.parameters()
        yield from self.head.parameters()


def check_divisible(size: tuple[int, int], depth: int) -> None:
    """Refuse a height or width that ``depth`` halvings do not divide evenly.

    Raises:
        UserError: naming model.depth, the size, and the fix.
    """
    factor = 2**depth
    if all(n % factor == 0 for n in size):
        return
    fits = next(d for d in range(depth, -1, -1) if all(n % 2**d == 0 for n in size))
    smaller = f", or a smaller depth (model.depth: {fits} fits)" if fits else ""
    raise UserError(f"model.depth {depth} halves the height and width {depth} times, so "
                    f"both must be multiples of 2**{depth} = {factor}, but the input is "
                    f"{size[0]}x{size[1]} (height x width); use a chip size that is a "
                    f"multiple of {factor}{smaller}")


def build_unet(input_shape: tuple[int, ...], n_outputs: int, depth: int = 3, width: int = 16,
               activation: str = "relu", leaky_relu_slope: float = 0.01,
               dropout: float = 0.0, batch_norm: bool = False) -> UNet:
    """A ``UNet`` for samples of ``input_shape`` (bands, height, width); the other arguments
    are ``UNet``'s.

    Raises:
        UserError: the samples are not images, or ``depth`` does not divide their size.
    """
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise UserError(f"model.name unet takes images (channels, height, width), e.g. "
                        f"multi-band raster chips, but the inputs are shaped "
                        f"{describe_shape(shape)}; use model.name: mlp for feature vectors, "
                        f"or cnn or resnet for 1-D frames")
    check_divisible(shape[1:], depth)
    return UNet(shape[0], n_outputs, depth, width, activation, leaky_relu_slope, dropout,
                batch_norm)
