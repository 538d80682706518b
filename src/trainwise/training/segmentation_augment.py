"""Augmentation of segmentation batches: the label map turns and mirrors with its pixels.

The augmenter's ops run in their usual order with their usual draws (``augment.py``), so a
segmentation run is seeded and resumes exactly like an image run. Geometric ops (flips, 90°
turns) act on the bands and the labels together: the labels ride along as one more channel
(class indices are exact in float32), and flips and turns only move values, so each label
lands exactly where its pixel does (nearest, never blended). Value ops (contrast,
brightness, blur, noise) act on the bands alone. Rotations and shifts by arbitrary amounts
interpolate, so they are refused for segmentation.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from trainwise.errors import UserError
from trainwise.training.augment import AugmentedBatches, Augmenter, augment_seed
from trainwise.training.augment_ops import Affine, Flip, Rot90

LABEL_OPS = (Flip, Rot90)  # ops that move pixels without blending them


def augment_pair(augment: Augmenter, x: torch.Tensor, labels: torch.Tensor,
                 seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``augment`` applied to the bands ``x`` (N, C, H, W) and, for its geometric ops, to the
    label maps ``labels`` (N, H, W) alike."""
    generator = torch.Generator().manual_seed(seed)
    channels = x.shape[1]
    for op in augment.ops:
        if isinstance(op, LABEL_OPS):
            both = op(torch.cat([x, labels[:, None].to(x.dtype)], dim=1), generator)
            x, labels = both[:, :channels], both[:, channels].to(labels.dtype)
        else:
            x = op(x, generator)
    return x, labels


class AugmentedPairs(AugmentedBatches):
    """``AugmentedBatches`` for segmentation: each batch's bands and labels augmented together.

    Raises:
        UserError: when the augmenter rotates or shifts (``data.augment.rotate``, ``shift``).
    """

    def __init__(self, batches, augment: Augmenter, seed: int):
        if any(isinstance(op, Affine) for op in augment.ops):
            raise UserError("data.augment.rotate and data.augment.shift interpolate pixels, "
                            "which would blend class labels; for segmentation use hflip, vflip "
                            "and rot90 (exact), and the value ops, and set rotate and shift to 0")
        super().__init__(batches, augment, seed)

    def epoch(self, epoch: int, skip: int = 0) -> Iterator[tuple]:
        """Yield ``(x, y, w)`` batches of ``epoch`` after the first ``skip``, augmented."""
        for index, (x, y, w) in enumerate(self.batches.epoch(epoch, skip=skip), start=skip):
            x, y = augment_pair(self.augment, x, y, augment_seed(self.augment_seed, epoch, index))
            yield x, y, w
