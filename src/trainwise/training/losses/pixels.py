"""Pixel losses for segmentation: any row loss applied to the pixels that are not ignored.

A segmentation model gives (N, K, H, W) logits for (N, H, W) labels. Every pixel is a row of
K logits, so ``PixelLoss`` moves the class axis last, keeps the pixels whose label is not
``IGNORE_LABEL`` and hands those rows to an ordinary ``RowLoss``: cross-entropy with class
weights, focal, Dice, Tversky, top-k or a weighted sum of them work per pixel unchanged.
Ignored pixels (nodata, or outside the split) are not in the rows at all, so they have no
say in the loss, and their logits get exactly zero gradient, even if they are NaN.
"""

from __future__ import annotations

import torch

from trainwise.training.losses.base import RowLoss

IGNORE_LABEL = -1
"""The encoded label of a pixel no loss or metric may see (nodata, or outside the split)."""


class PixelLoss(RowLoss):
    """``loss`` over the valid pixels of (N, K, *spatial) logits and (N, *spatial) labels.

    The value is the inner loss on the rows ``(P, K)`` and ``(P,)`` of the P valid pixels of
    the whole batch: a pixel mean for cross-entropy and focal (class-weighted as PyTorch
    weighs it), one set value for Dice and Tversky. A batch with no valid pixel gives 0,
    still part of the graph (so ``backward`` works and every gradient is 0).

    Selecting the valid pixels reads their count on the host: one device sync per call, the
    price of giving the inner loss exactly the valid rows (masking with zero weights instead
    would skip the sync but turn NaN logits at nodata into NaN gradients and change top-k's
    share of rows).

    Args:
        loss: the ``RowLoss`` for (P, K) rows and (P,) class indices.

    Example:
        >>> from trainwise.training.losses.cross_entropy import CrossEntropyLoss
        >>> logits = torch.zeros(1, 2, 1, 2)           # one chip, 2 classes, 1 x 2 pixels
        >>> logits[0, 0, 0, 0] = 50.0                  # pixel 1: sure of class 0
        >>> labels = torch.tensor([[[1, IGNORE_LABEL]]])   # wrong on pixel 1; pixel 2 ignored
        >>> round(PixelLoss(CrossEntropyLoss())(logits, labels).item(), 1)
        50.0
    """

    def __init__(self, loss: RowLoss):
        super().__init__()
        self.loss = loss

    def forward(self, prediction: torch.Tensor, target: torch.Tensor,
                weight: torch.Tensor | None = None) -> torch.Tensor:
        """The inner loss on the valid pixels.

        Args:
            prediction: (N, K, *spatial) logits, e.g. (N, K, H, W) or (N, K, L); any memory
                format (channels-last included).
            target: (N, *spatial) int64 class indices, ``IGNORE_LABEL`` where ignored.
            weight: (N,) weights per chip, applied to each of the chip's pixels, or None.
        """
        keep, rows, labels = self._valid_rows(prediction, target)
        if rows.shape[0] == 0:
            # The empty selection is still connected to ``prediction``: a zero with a graph
            # whose gradients are all 0 (``prediction.sum() * 0`` would be NaN at NaN logits).
            return rows.sum() * 0.0
        if weight is not None:
            weight = _per_pixel(weight, target)[keep]
        return self.loss(rows, labels, weight)

    def mean(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.forward(prediction, target)

    def per_row(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per chip: the sum of its valid pixels' losses, (N,).

        With ``row_scale`` (the chip's summed class weights, or its valid pixel count) this
        keeps the ``RowLoss`` identity ``loss(p, y, w) == sum(w * per_row) / sum(w * row_scale)``
        for per-pixel inner losses, so wrappers that rank rows (``TopKLoss`` around a
        ``PixelLoss``) see whole chips, and ``per_row / row_scale`` is a chip's mean loss.
        Set losses (Dice, Tversky) have no per-row value and raise, as on their own.
        """
        keep, rows, labels = self._valid_rows(prediction, target)
        return _chip_sums(keep, self.loss.per_row(rows, labels))

    def row_scale(self, target: torch.Tensor) -> torch.Tensor:
        """Per chip: the summed class weights of its valid pixels (their count without), (N,)."""
        keep = target != IGNORE_LABEL
        scale = self.loss.row_scale(target[keep])
        if scale is None:
            return keep.reshape(keep.shape[0], -1).sum(1).to(torch.get_default_dtype())
        return _chip_sums(keep, scale)

    @staticmethod
    def _valid_rows(prediction: torch.Tensor, target: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The valid-pixel mask (N, *spatial), their (P, K) logits and (P,) labels."""
        if prediction.dim() < 2 or target.shape != prediction.shape[:1] + prediction.shape[2:]:
            raise ValueError(f"PixelLoss needs (N, K, *spatial) logits and (N, *spatial) "
                             f"labels; got {tuple(prediction.shape)} and {tuple(target.shape)}")
        keep = target != IGNORE_LABEL
        # Indexing the class-last view with the mask gathers the rows in one copy, whatever
        # the memory format: no contiguous (N*H*W, K) copy of the whole batch first.
        return keep, prediction.movedim(1, -1)[keep], target[keep]


def pixel_class_weights(targets: torch.Tensor, n_classes: int) -> torch.Tensor:
    """scikit-learn's 'balanced' class weights from the valid pixels' labels.

    ``valid_pixels / (n_classes * pixels_in_class)`` as ``balanced_class_weights`` gives it,
    ignored pixels left out. A class with no valid pixel gets 1 (the weight of a class at
    exactly its fair share), not the ``valid_pixels / n_classes`` the count's floor of 1 would
    give it: a class missing from the training chips must not swamp a set loss's class mean
    (Dice, Tversky) or a validation loss where it does occur.

    Args:
        targets: int labels of any shape, ``IGNORE_LABEL`` where ignored.
        n_classes: the number of classes K.

    Returns:
        (K,) float32 weights on ``targets``' device.

    Raises:
        ValueError: a label outside ``0..K-1`` that is not ``IGNORE_LABEL``.

    Example:
        >>> weights = pixel_class_weights(torch.tensor([[0, 0, 0, 1], [-1, -1, -1, -1]]), 3)
        >>> [round(w, 3) for w in weights.tolist()]   # 4 / (3 * 3), 4 / (3 * 1), absent
        [0.444, 1.333, 1.0]
    """
    from trainwise.training.losses import balanced_class_weights  # the package imports us

    labels = targets[targets != IGNORE_LABEL]
    if labels.numel() and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"pixel labels must be 0..{n_classes - 1} or IGNORE_LABEL "
                         f"({IGNORE_LABEL}); found {labels.min().item()}..{labels.max().item()}")
    weights = balanced_class_weights(labels, n_classes)
    present = torch.bincount(labels, minlength=n_classes) > 0
    return torch.where(present, weights, torch.ones_like(weights))


def _per_pixel(weight: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(N,) chip weights as a (N, *spatial) view: each pixel carries its chip's weight."""
    return weight.reshape((-1,) + (1,) * (target.dim() - 1)).expand(target.shape)


def _chip_sums(keep: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """(N,) sums per chip of ``values`` given for the pixels where ``keep`` (N, *spatial)."""
    # Scattered into a zero map and summed per chip: a fixed-order reduction (deterministic,
    # unlike an atomic index_add), and masked_scatter's gradient is the valid pixels' only.
    full = torch.zeros(keep.shape, dtype=values.dtype, device=values.device)
    return full.masked_scatter(keep, values).reshape(keep.shape[0], -1).sum(1)
