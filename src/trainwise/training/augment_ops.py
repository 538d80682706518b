"""The augmentation ops: each draws its per-sample decisions, then changes a batch on its device.

Every op is called as ``op(x, generator)`` with ``x`` shaped ``(B, C, L)`` or ``(B, C, H, W)``
(any number of channels) and a CPU ``torch.Generator``. It draws, in a fixed order, whether
each sample is changed and by how much; only those few numbers travel to ``x``'s device (no
copy back, so no sync), and the batch itself never leaves it. Samples not chosen come back
bit-identical: they are either untouched by ``torch.where`` or changed by an exact identity
(``+ 0``, ``* 1``, a roll by 0). Kornia's functional API does the geometry and the blur, with
the parameters drawn here: its ``augmentation`` classes would draw from the global RNG.
"""

from __future__ import annotations

import math

import torch
from kornia.filters import gaussian_blur2d
from kornia.geometry.transform import get_rotation_matrix2d, warp_affine

# Blurred samples draw sigma >= this: a sigma of 0 (no blur) would divide by zero.
MIN_SIGMA = 1e-3


def _coin(generator: torch.Generator, batch: int, p: float) -> torch.Tensor:
    """(B,) bool on the CPU: which samples the op changes."""
    return torch.rand(batch, generator=generator) < p


def _uniform(generator: torch.Generator, batch: int, low: float, high: float) -> torch.Tensor:
    """(B,) float32 on the CPU, uniform in [low, high)."""
    return low + (high - low) * torch.rand(batch, generator=generator)


def _per_sample(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B,) values on x's device (and dtype, for numbers), shaped (B, 1, ...) to broadcast."""
    dtype = None if values.dtype == torch.bool else x.dtype
    values = values.to(device=x.device, dtype=dtype, non_blocking=True)
    return values.view(-1, *[1] * (x.ndim - 1))


def _where(chosen: torch.Tensor, changed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``changed`` for the chosen samples, ``x`` itself for the rest."""
    return torch.where(_per_sample(chosen, x), changed, x)


class Flip:
    """Mirror chosen samples along one axis (-1: left-right, -2: top-bottom)."""

    def __init__(self, p: float, dim: int):
        self.p, self.dim = p, dim

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return _where(_coin(generator, len(x), self.p), x.flip(self.dim), x)


class Rot90:
    """Turn chosen square samples by 90, 180 or 270 degrees, each equally likely."""

    def __init__(self, p: float):
        self.p = p

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        chosen = _coin(generator, len(x), self.p)
        turns = torch.randint(1, 4, (len(x),), generator=generator)
        out = x
        for k in (1, 2, 3):  # three whole-batch turns beat a per-sample loop and need no sync
            out = _where(chosen & (turns == k), torch.rot90(x, k, dims=(-2, -1)), out)
        return out


class Affine:
    """Rotate and shift chosen 2-D samples in one bilinear warp (one interpolation, not two).

    Args:
        degrees: angles are uniform in [-degrees, degrees].
        rotate_p: probability that a sample is rotated.
        shift: shifts are uniform in [-shift, shift] times the width (x) and height (y).
        shift_p: probability that a sample is shifted.
        fill_mode: ``reflection``, ``border`` or ``zeros``: what fills the uncovered border.
    """

    def __init__(self, degrees: float, rotate_p: float, shift: float, shift_p: float,
                 fill_mode: str):
        self.degrees, self.rotate_p = degrees, rotate_p
        self.shift, self.shift_p = shift, shift_p
        self.fill_mode = fill_mode

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, (height, width) = len(x), x.shape[-2:]
        rotated = _coin(generator, batch, self.rotate_p)
        angle = _uniform(generator, batch, -self.degrees, self.degrees) * rotated
        shifted = _coin(generator, batch, self.shift_p)
        offset = _uniform(generator, 2 * batch, -self.shift, self.shift).view(batch, 2)
        offset = offset * shifted[:, None] * torch.tensor([width, height])  # (B, 2) pixels
        matrix = self._matrix(angle, offset, height, width).to(x.device, x.dtype,
                                                                non_blocking=True)
        warped = warp_affine(x, matrix, (height, width), padding_mode=self.fill_mode)
        return _where(rotated | shifted, warped, x)

    @staticmethod
    def _matrix(angle: torch.Tensor, offset: torch.Tensor, height: int,
                width: int) -> torch.Tensor:
        """(B, 2, 3) on the CPU: rotate about the centre by ``angle`` degrees, then shift."""
        centre = torch.tensor([(width - 1) / 2, (height - 1) / 2]).expand(len(angle), 2)
        matrix = get_rotation_matrix2d(centre, angle, torch.ones(len(angle), 2))
        matrix[:, :, 2] += offset
        return matrix


class TimeShift:
    """Roll chosen samples along the last axis by up to ``max_steps`` either way (circular)."""

    def __init__(self, max_steps: int, p: float):
        self.max_steps, self.p = max_steps, p

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        chosen = _coin(generator, len(x), self.p)
        steps = torch.randint(-self.max_steps, self.max_steps + 1, (len(x),), generator=generator)
        steps = _per_sample(steps * chosen, x).long()  # (B, 1, ...): 0 for the rest
        length = x.shape[-1]
        # Gather from (t - step) mod L: a per-sample torch.roll in one call.
        source = (torch.arange(length, device=x.device) - steps) % length
        return torch.gather(x, -1, source.expand_as(x))


class Blur:
    """Gaussian-blur chosen samples with a sigma drawn per sample; 1-D frames along L only.

    Args:
        sigma: (low, high) in pixels (or steps).
        p: probability that a sample is blurred.
        kernel: (height, width) of the kernel, odd, at most ``2 x size - 1`` (reflect padding).
    """

    def __init__(self, sigma: tuple[float, float], p: float, kernel: tuple[int, int]):
        self.sigma, self.p, self.kernel = sigma, p, kernel

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        chosen = _coin(generator, len(x), self.p)
        sigma = _uniform(generator, len(x), *self.sigma).clamp(min=MIN_SIGMA)
        # Left on the CPU: kornia checks sigma > 0 where it lives, then moves it without a sync.
        sigma = sigma[:, None].expand(len(x), 2)
        frames = x.ndim == 3  # (B, C, L): blur as (B, C, 1, L) images with a (1, k) kernel
        image = x.unsqueeze(-2) if frames else x
        blurred = gaussian_blur2d(image, self.kernel, sigma, border_type="reflect")
        return _where(chosen, blurred.squeeze(-2) if frames else blurred, x)


class Contrast:
    """Scale chosen samples about each channel's own mean by a factor in [1 - c, 1 + c].

    Per channel, so bands of different scales (multi-band chips) are never mixed.
    """

    def __init__(self, limit: float, p: float):
        self.limit, self.p = limit, p

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        chosen = _coin(generator, len(x), self.p)
        factor = _per_sample(_uniform(generator, len(x), 1 - self.limit, 1 + self.limit), x)
        mean = x.mean(dim=tuple(range(2, x.ndim)), keepdim=True)  # (B, C, 1, ...)
        return _where(chosen, (x - mean) * factor + mean, x)


class Brightness:
    """Add one offset in [-limit, limit] to every value of a chosen sample."""

    def __init__(self, limit: float, p: float):
        self.limit, self.p = limit, p

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        chosen = _coin(generator, len(x), self.p)
        offset = _uniform(generator, len(x), -self.limit, self.limit) * chosen
        return x + _per_sample(offset, x)


class Amplitude:
    """Multiply chosen samples by a factor in [low, high]."""

    def __init__(self, scale: tuple[float, float], p: float):
        self.scale, self.p = scale, p

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        chosen = _coin(generator, len(x), self.p)
        factor = torch.where(chosen, _uniform(generator, len(x), *self.scale), 1.0)
        return x * _per_sample(factor, x)


class Noise:
    """Add Gaussian noise of standard deviation ``std`` to chosen samples.

    The noise itself is drawn on x's device (copying a batch-sized draw from the CPU would
    cost more than the step), by a generator there seeded from the CPU generator: the result
    still depends only on the seed, though a CPU and a GPU run draw different noise.
    """

    def __init__(self, std: float, p: float):
        self.std, self.p = std, p

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        chosen = _coin(generator, len(x), self.p)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))  # a CPU read: no sync
        device_generator = torch.Generator(device=x.device).manual_seed(seed)
        noise = torch.randn(x.shape, generator=device_generator, device=x.device, dtype=x.dtype)
        return x + noise * _per_sample(chosen * self.std, x)


def blur_kernel(high_sigma: float, size: int) -> int:
    """An odd kernel width covering ±3 sigma, capped at ``2 x size - 1`` (reflect padding)."""
    return min(2 * math.ceil(3 * high_sigma) + 1, 2 * size - 1)
