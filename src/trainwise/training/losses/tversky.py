"""Soft Tversky and Dice losses: overlap between predicted probabilities and true classes.

They are set losses, not per-row means: one value for a whole batch (or the whole validation
split), computed from soft counts per class ``c`` over the rows ``i``::

    TP_c = sum_i w_i p_ic y_ic    FP_c = sum_i w_i p_ic (1 - y_ic)
    FN_c = sum_i w_i (1 - p_ic) y_ic
    T_c  = (TP_c + s) / (TP_c + alpha FP_c + beta FN_c + s)
    loss = sum_c v_c (1 - T_c) / sum_c v_c

``p`` is the softmax of the logits, ``y`` the one-hot target, ``s`` the smoothing. Row weights
``w_i`` enter *inside* the soft counts (a row of weight 0 is absent; scaling all rows changes
only the smoothing's share). Class weights ``v_c`` weigh the classes' terms (1 each without).
Dice is Tversky with ``alpha = beta = 0.5``: ``2TP / (2TP + FP + FN)``, with smoothing ``2s``
in that form.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trainwise.training.losses.base import RowLoss


class TverskyLoss(RowLoss):
    """``1 - soft Tversky index``, averaged over classes (see the module docstring).

    Args:
        alpha: weight of the soft false positives.
        beta: weight of the soft false negatives (above alpha favours recall).
        smooth: added to numerator and denominator, so absent classes give 0 loss, not 0/0.
        class_weights: (classes,) weights of the per-class terms, or None.

    Example:
        >>> logits = torch.tensor([[9.0, -9.0], [-9.0, 9.0]])
        >>> round(TverskyLoss(0.3, 0.7, smooth=0.0)(logits, torch.tensor([0, 1])).item(), 3)
        0.0
    """

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, smooth: float = 1.0,
                 class_weights: torch.Tensor | None = None):
        super().__init__()
        self.alpha = alpha
        self.beta = beta
        self.smooth = smooth
        self.register_buffer("class_weights", class_weights)

    def per_row(self, prediction, target):
        raise NotImplementedError(f"{type(self).__name__} is computed over a whole batch; it "
                                  "has no per-row value (use it alone or in a weighted sum)")

    def forward(self, prediction: torch.Tensor, target: torch.Tensor,
                weight: torch.Tensor | None = None) -> torch.Tensor:
        probabilities = torch.softmax(prediction, dim=-1)
        truth = F.one_hot(target, probabilities.shape[-1]).to(probabilities.dtype)
        if weight is not None:
            probabilities, truth_weighted = probabilities * weight[:, None], truth * weight[:, None]
        else:
            truth_weighted = truth
        true_positive = (probabilities * truth).sum(0)
        false_positive = probabilities.sum(0) - true_positive
        false_negative = truth_weighted.sum(0) - true_positive
        denominator = true_positive + self.alpha * false_positive + self.beta * false_negative
        # The floor only matters with smooth = 0 and a class neither present nor predicted.
        index = (true_positive + self.smooth) / (denominator + self.smooth).clamp(min=1e-12)
        per_class = 1.0 - index
        if self.class_weights is None:
            return per_class.mean()
        return (per_class * self.class_weights).sum() / self.class_weights.sum()


class DiceLoss(TverskyLoss):
    """Soft Dice loss: Tversky with ``alpha = beta = 0.5``."""

    def __init__(self, smooth: float = 1.0, class_weights: torch.Tensor | None = None):
        super().__init__(0.5, 0.5, smooth, class_weights)
