"""Top-k (hard-example) loss: the mean over the hardest share of a batch's rows."""

from __future__ import annotations

import math

import torch

from trainwise.training.losses.base import RowLoss


class TopKLoss(RowLoss):
    """Keeps the ``fraction`` of rows with the largest loss and averages over those only.

    Rows are ranked by what they contribute to the loss: ``w_i * l_i`` (row weight times the
    base loss's per-row value, which already includes class weights). The kept rows are then
    averaged as the base loss averages (``sum(w_i l_i) / sum(w_i c_i)`` over the kept rows),
    so ``fraction=1`` gives the base loss itself. On validation the "batch" is the whole split.

    Args:
        base: a loss with per-row values (cross-entropy, focal).
        fraction: share of the rows kept, in (0, 1]; at least one row is kept.

    Example:
        >>> from trainwise.training.losses.cross_entropy import CrossEntropyLoss
        >>> loss = TopKLoss(CrossEntropyLoss(), fraction=0.5)
        >>> logits = torch.tensor([[3.0, 0.0], [0.0, 0.0]])
        >>> round(loss(logits, torch.tensor([0, 0])).item(), 4)   # only the 50/50 row counts
        0.6931
    """

    def __init__(self, base: RowLoss, fraction: float = 0.5):
        super().__init__()
        self.base = base
        self.fraction = fraction

    def per_row(self, prediction, target):
        return self.base.per_row(prediction, target)

    def row_scale(self, target):
        return self.base.row_scale(target)

    def mean(self, prediction, target):
        return self.forward(prediction, target)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor,
                weight: torch.Tensor | None = None) -> torch.Tensor:
        rows = self.base.per_row(prediction, target)
        scale = self.base.row_scale(target)
        if scale is None:
            scale = torch.ones_like(rows)
        if weight is not None:
            rows, scale = rows * weight, scale * weight
        # k from the row count (a host int): no device sync.
        k = max(1, math.ceil(self.fraction * rows.numel()))
        hardest, index = rows.topk(k)
        return hardest.sum() / scale[index].sum()
