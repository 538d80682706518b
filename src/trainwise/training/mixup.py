"""Mixup for tabular rows (Zhang et al., 2018): train on blends of row pairs and their targets.

Each batch draws one λ ~ Beta(α, α) and a permutation of its rows, both from torch's global
CPU generator: the checkpoint's RNG state therefore makes mixup resume exactly, and CPU and
GPU runs draw the same numbers. The inputs become ``λ·x + (1-λ)·x[perm]`` and the loss
``λ·L(pred, y) + (1-λ)·L(pred, y[perm])``: for cross-entropy that is the loss against the
blended label, and any ``RowLoss`` (row weights included) works unchanged.

λ is folded to ``max(λ, 1-λ)`` (as fastai does): each mixed row then stays closest to its own
row, so the training metric, measured against the batch's own targets ``y``, scores each
prediction against the target with the larger share. The blend itself is the same either way:
``perm`` is uniform, so (λ, i, perm[i]) and (1-λ, perm[i], i) are equally likely pairs.
"""

from __future__ import annotations

import torch
from torch import nn


class Mixup:
    """Blends each batch's rows with a shuffled copy of themselves.

    Args:
        alpha: the Beta distribution's two parameters; small values (0.1-0.4) keep most
            blends close to one of the two rows.

    Example:
        >>> from trainwise.training.losses import MSELoss
        >>> mixup = Mixup(alpha=0.4)
        >>> x, y = torch.randn(8, 3), torch.randn(8)
        >>> prediction, loss = mixup.forward(nn.Linear(3, 1), MSELoss(), x, y)
        >>> prediction.shape, loss.shape
        (torch.Size([8, 1]), torch.Size([]))
    """

    def __init__(self, alpha: float):
        if alpha <= 0:
            raise ValueError(f"mixup alpha must be above 0 (got {alpha})")
        concentration = torch.tensor(float(alpha))
        self.beta = torch.distributions.Beta(concentration, concentration)

    def sample(self, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(λ, perm)`` for a batch of ``rows``, on the CPU: λ in [0.5, 1] and a permutation."""
        lam = self.beta.sample()
        return torch.maximum(lam, 1.0 - lam), torch.randperm(rows)

    def forward(self, model: nn.Module, loss_fn, features: torch.Tensor, targets: torch.Tensor,
                weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's prediction on the mixed rows and the mixed loss (device tensors)."""
        lam, perm = self.sample(len(targets))
        # Host to device only (no sync back): the draw stays on the CPU generator.
        lam = lam.to(features.device, features.dtype, non_blocking=True)
        perm = perm.to(features.device, non_blocking=True)
        prediction = model(lam * features + (1.0 - lam) * features[perm])
        other_weights = weights[perm] if weights is not None else None
        loss = (lam * loss_fn(prediction, targets, weights)
                + (1.0 - lam) * loss_fn(prediction, targets[perm], other_weights))
        return prediction, loss
