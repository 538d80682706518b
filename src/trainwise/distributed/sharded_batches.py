"""Each rank's share of every global batch: the one seeded epoch order, cut W ways.

Every rank draws the same per-epoch order (it depends only on the seed and the epoch) and
keeps its contiguous slice of each batch, so the ranks together see exactly the batches a
single process would, and ``batch_in_epoch`` counts global batches at any world size: a run
stopped with 2 processes resumes at the same batch with 1 or 4.
"""

from __future__ import annotations

import torch


class ShardBatch(tuple):
    """One rank's ``(features, targets, weights)`` of a global batch; ``total_rows`` is the
    global batch's size, which the gradient's weighting needs (see ``DataParallel``)."""

    total_rows: int

    def __new__(cls, parts: tuple, total_rows: int):
        batch = super().__new__(cls, parts)
        batch.total_rows = total_rows
        return batch


def shard_bounds(rows: int, rank: int, size: int) -> tuple[int, int]:
    """The ``[start, stop)`` of ``rank``'s slice of ``rows``: sizes differ by at most one.

    Example:
        >>> [shard_bounds(5, rank, 2) for rank in range(2)]
        [(0, 3), (3, 5)]
    """
    base, extra = divmod(rows, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class ShardedBatches:
    """The training batches of ``inner`` (in memory or streamed), this rank's slice of each.

    Anything else (``n_rows``, ``rows_per_epoch``, a sampler) is ``inner``'s.
    """

    def __init__(self, inner, rank: int, size: int):
        self.inner, self.rank, self.size = inner, rank, size

    def __len__(self) -> int:
        return len(self.inner)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def epoch(self, epoch: int, skip: int = 0):
        for features, targets, weights in self.inner.epoch(epoch, skip):
            start, stop = shard_bounds(len(targets), self.rank, self.size)
            yield ShardBatch((features[start:stop], targets[start:stop],
                              weights[start:stop] if weights is not None else None),
                             total_rows=len(targets))


def shard_validation(validation: tuple[torch.Tensor, torch.Tensor] | None, rank: int,
                     size: int) -> tuple[tuple[torch.Tensor, torch.Tensor] | None, int]:
    """This rank's slice of the validation rows, and its number of rows.

    With fewer rows than ranks every rank keeps them all: the reduction weighs the ranks'
    equal values equally, so the result is the same.
    """
    if validation is None:
        return None, 0
    features, targets = validation
    if len(targets) < size:
        return validation, len(targets)
    start, stop = shard_bounds(len(targets), rank, size)
    return (features[start:stop], targets[start:stop]), stop - start
