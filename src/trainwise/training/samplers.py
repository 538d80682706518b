"""Class-balancing samplers: which training rows an epoch sees, drawn afresh every epoch.

Each follows the ``Sampler`` contract of ``batches.py``: ``sampler(epoch, generator)`` returns
the epoch's row indices in training order, drawing only from ``generator`` (seeded from the
run's seed and the epoch by ``InMemoryBatches``), so the draw depends on nothing else and a
resumed run sees the same rows. ``rows_per_epoch`` says how many indices each epoch has.

Example:
    >>> sampler = UnderSampler(torch.tensor([0, 0, 0, 0, 1]))
    >>> sampler.rows_per_epoch
    2
    >>> torch.bincount(torch.tensor([0, 0, 0, 0, 1])[sampler(0, torch.Generator().manual_seed(0))])
    tensor([1, 1])
"""

from __future__ import annotations

import numpy as np
import torch


class OverSampler:
    """Rows drawn with replacement, each with probability ∝ 1 / (its class's row count).

    Every class then has the same expected share of the epoch; the epoch keeps the training
    split's size, so an epoch is as long as without balancing.

    Args:
        labels: (N,) class indices of the training rows (any device; kept on the CPU).
    """

    def __init__(self, labels: torch.Tensor):
        labels = torch.as_tensor(labels).cpu()
        counts = torch.bincount(labels).to(torch.float64)
        self.probabilities = (1.0 / counts)[labels]
        self.rows_per_epoch = len(labels)

    def __call__(self, epoch: int, generator: torch.Generator) -> torch.Tensor:
        return torch.multinomial(self.probabilities, self.rows_per_epoch, replacement=True,
                                 generator=generator)


class UnderSampler:
    """Every class cut to the smallest class's count, a fresh random subset each epoch.

    The epoch is exactly balanced: ``rows_per_epoch = smallest count * classes present``;
    the rows are shuffled together so batches mix the classes.

    Args:
        labels: (N,) class indices of the training rows.
    """

    def __init__(self, labels: torch.Tensor):
        labels = torch.as_tensor(labels).cpu()
        self.rows_by_class = [torch.nonzero(labels == label).squeeze(1)
                              for label in torch.unique(labels)]
        self.per_class = min(len(rows) for rows in self.rows_by_class)
        self.rows_per_epoch = self.per_class * len(self.rows_by_class)

    def __call__(self, epoch: int, generator: torch.Generator) -> torch.Tensor:
        chosen = [rows[torch.randperm(len(rows), generator=generator)[:self.per_class]]
                  for rows in self.rows_by_class]
        chosen = torch.cat(chosen)
        return chosen[torch.randperm(len(chosen), generator=generator)]


SAMPLERS = {"oversample": OverSampler, "undersample": UnderSampler}


def build_sampler(balance: str, labels: np.ndarray | torch.Tensor):
    """The sampler for ``data.balance``, or None when rows are plainly shuffled.

    Args:
        balance: the config's ``data.balance`` (``none`` and ``smote`` use no sampler: SMOTE
            changes the training rows once, before training).
        labels: (N,) class indices of the training rows.

    Returns:
        An ``OverSampler``, an ``UnderSampler`` or None.
    """
    sampler = SAMPLERS.get(balance)
    return sampler(torch.as_tensor(labels)) if sampler is not None else None
