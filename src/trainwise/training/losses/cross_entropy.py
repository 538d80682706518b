"""Cross-entropy on (N, classes) logits and (N,) class indices, with class weights and smoothing."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trainwise.training.losses.base import RowLoss


class CrossEntropyLoss(RowLoss):
    """PyTorch's cross-entropy; class weights apply to the validation loss too.

    Args:
        class_weights: (classes,) weights, or None.
        label_smoothing: share of the target probability spread over all classes.
    """

    def __init__(self, class_weights: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.register_buffer("class_weights", class_weights)
        self.label_smoothing = label_smoothing

    def per_row(self, prediction, target):
        return F.cross_entropy(prediction, target, weight=self.class_weights, reduction="none",
                               label_smoothing=self.label_smoothing)

    def mean(self, prediction, target):
        return F.cross_entropy(prediction, target, weight=self.class_weights,
                               label_smoothing=self.label_smoothing)

    def row_scale(self, target):
        return None if self.class_weights is None else self.class_weights[target]
