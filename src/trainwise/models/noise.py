"""Gaussian input noise: a regulariser active in training mode only (Keras' GaussianNoise)."""

from __future__ import annotations

import torch
from torch import nn


class GaussianNoise(nn.Module):
    """Adds N(0, sigma²) noise to its input while training; the identity in eval mode.

    The noise comes from torch's global generator (the input's device), whose state the
    checkpoints already keep, so a resumed run draws the same noise as a straight one. It has
    no parameters or buffers: adding it leaves the model's ``state_dict`` unchanged.

    Args:
        sigma: the noise's standard deviation, in the units of the (standardised) inputs.

    Example:
        >>> noise = GaussianNoise(0.1)
        >>> x = torch.zeros(4, 3)
        >>> torch.equal(noise.eval()(x), x), torch.equal(noise.train()(x), x)
        (True, False)
    """

    def __init__(self, sigma: float):
        super().__init__()
        if sigma < 0:
            raise ValueError(f"sigma must be at least 0, got {sigma}")
        self.sigma = float(sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.sigma == 0:
            return x
        return x + torch.randn_like(x) * self.sigma

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"
