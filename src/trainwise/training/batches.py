"""In-memory data on the device, shuffled per epoch and sliced into batches without copies."""

from __future__ import annotations

from collections.abc import Iterator

import torch


class InMemoryBatches:
    """Training rows kept as device tensors, shuffled once per epoch, served as slices.

    The shuffle for epoch ``e`` comes from a generator seeded with ``(seed, e)``, so the data
    order depends on nothing but the seed and the epoch: a resumed run sees the same order.

    Args:
        features: (N, F) float tensor.
        targets: (N,) tensor.
        batch_size: rows per batch; the last batch of an epoch may be smaller.
        seed: the run's seed.
        shuffle: reshuffle every epoch (the usual choice for training).

    Example:
        >>> batches = InMemoryBatches(torch.zeros(10, 3), torch.zeros(10), batch_size=4, seed=0)
        >>> [len(x) for x, _ in batches.epoch(0)]
        [4, 4, 2]
    """

    def __init__(self, features: torch.Tensor, targets: torch.Tensor, batch_size: int,
                 seed: int, shuffle: bool = True):
        self.features = features
        self.targets = targets
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle

    def __len__(self) -> int:
        """Batches per epoch."""
        return -(-len(self.targets) // self.batch_size)

    @property
    def n_rows(self) -> int:
        return len(self.targets)

    def epoch(self, epoch: int, skip: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)`` batches of ``epoch``, starting after the first ``skip`` batches."""
        features, targets = self.features, self.targets
        if self.shuffle:
            # One gather per epoch; every batch below is then a view, not a copy.
            order = torch.randperm(self.n_rows, generator=self._generator(epoch))
            order = order.to(features.device)
            features, targets = features[order], targets[order]
        for start in range(skip * self.batch_size, self.n_rows, self.batch_size):
            yield features[start:start + self.batch_size], targets[start:start + self.batch_size]

    def _generator(self, epoch: int) -> torch.Generator:
        # Large odd multiplier keeps (seed, epoch) pairs from colliding for any sane values.
        return torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
