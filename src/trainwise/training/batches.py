"""In-memory data on the device, shuffled per epoch and sliced into batches without copies."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

# A sampler chooses an epoch's rows: (epoch, generator) -> row indices, in training order.
# Over- and under-sampling are samplers; the default is a plain shuffle of every row.
Sampler = Callable[[int, torch.Generator], torch.Tensor]


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
        weights: (N,) per-row loss weights (e.g. pseudo-labelled rows), or None for all 1.
        sampler: chooses each epoch's rows instead of a plain shuffle (see ``Sampler``);
            ``sampler.rows_per_epoch`` says how many it returns.

    Example:
        >>> batches = InMemoryBatches(torch.zeros(10, 3), torch.zeros(10), batch_size=4, seed=0)
        >>> [len(x) for x, _, _ in batches.epoch(0)]
        [4, 4, 2]
    """

    def __init__(self, features: torch.Tensor, targets: torch.Tensor, batch_size: int,
                 seed: int, shuffle: bool = True, weights: torch.Tensor | None = None,
                 sampler: Sampler | None = None):
        self.features = features
        self.targets = targets
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.weights = weights
        self.sampler = sampler

    def __len__(self) -> int:
        """Batches per epoch."""
        return -(-self.rows_per_epoch // self.batch_size)

    @property
    def n_rows(self) -> int:
        return len(self.targets)

    @property
    def rows_per_epoch(self) -> int:
        return self.sampler.rows_per_epoch if self.sampler is not None else self.n_rows

    def epoch(self, epoch: int, skip: int = 0) -> Iterator[tuple]:
        """Yield ``(x, y, w)`` batches of ``epoch`` after the first ``skip``; ``w`` may be None."""
        features, targets, weights = self.features, self.targets, self.weights
        order = self._order(epoch)
        if order is not None:
            # One gather per epoch; every batch below is then a view, not a copy.
            order = order.to(features.device)
            features, targets = features[order], targets[order]
            weights = weights[order] if weights is not None else None
        for start in range(skip * self.batch_size, len(targets), self.batch_size):
            stop = start + self.batch_size
            yield (features[start:stop], targets[start:stop],
                   weights[start:stop] if weights is not None else None)

    def _order(self, epoch: int) -> torch.Tensor | None:
        if self.sampler is not None:
            return self.sampler(epoch, self._generator(epoch))
        if self.shuffle:
            return torch.randperm(self.n_rows, generator=self._generator(epoch))
        return None

    def _generator(self, epoch: int) -> torch.Generator:
        # Large odd multiplier keeps (seed, epoch) pairs from colliding for any sane values.
        return torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
