"""Focal loss (Lin et al., 2017): cross-entropy that fades out rows the model already gets right."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trainwise.training.losses.base import RowLoss


class FocalLoss(RowLoss):
    """``alpha[y] * (1 - p_y) ** gamma * CE`` per row, on (N, classes) logits.

    The cross-entropy factor is exactly ``CrossEntropyLoss``'s (class weights and label
    smoothing included), and the mean is the same class-weighted mean, so with ``gamma=0`` and
    no ``alpha`` this *is* cross-entropy. ``alpha`` is the paper's per-class factor: a plain
    multiplier on each row, not normalised (unlike class weights, which set the denominator).

    Args:
        gamma: focusing strength; 0 gives cross-entropy, 2 is the paper's choice.
        alpha: (classes,) factors, or None for 1.
        class_weights: (classes,) cross-entropy class weights, or None.
        label_smoothing: as in cross-entropy.

    Example:
        >>> loss = FocalLoss(gamma=0.0)
        >>> logits, target = torch.tensor([[2.0, 0.0]]), torch.tensor([0])
        >>> torch.isclose(loss(logits, target), F.cross_entropy(logits, target)).item()
        True
    """

    def __init__(self, gamma: float = 2.0, alpha: torch.Tensor | None = None,
                 class_weights: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.gamma = gamma
        self.register_buffer("alpha", alpha)
        self.register_buffer("class_weights", class_weights)
        self.label_smoothing = label_smoothing

    def per_row(self, prediction, target):
        cross_entropy = F.cross_entropy(prediction, target, weight=self.class_weights,
                                        reduction="none", label_smoothing=self.label_smoothing)
        log_p_true = F.log_softmax(prediction, dim=-1).gather(1, target[:, None]).squeeze(1)
        # expm1 keeps 1 - p accurate near p = 1; the floor keeps the gradient of (1 - p)^gamma
        # finite there when 0 < gamma < 1 (0 ** 0 is 1, so gamma = 0 stays cross-entropy).
        miss = (-torch.expm1(log_p_true)).clamp(min=1e-12)
        rows = miss.pow(self.gamma) * cross_entropy
        return rows * self.alpha[target] if self.alpha is not None else rows

    def mean(self, prediction, target):
        rows = self.per_row(prediction, target)
        scale = self.row_scale(target)
        # PyTorch's class-weighted mean: divide by the summed class weights of the rows.
        return rows.mean() if scale is None else rows.sum() / scale.sum()

    def row_scale(self, target):
        return None if self.class_weights is None else self.class_weights[target]
