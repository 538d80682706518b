"""A bounded shuffle buffer: rows go in by chunks, shuffled batches come out.

Streamed rows cannot be permuted as a whole, so each reader keeps up to ``capacity`` rows,
and whenever it is full it permutes them, sends out all but half of them as batches, and
keeps the rest to mix with the rows that come next. A row thus leaves after a random number
of rounds, and memory stays at about ``capacity`` rows plus one chunk.

Example:
    >>> import numpy as np
    >>> buffer = ShuffleBuffer(capacity=8, batch_size=4, rng=np.random.default_rng(0))
    >>> x, y = np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10)
    >>> [len(b) for _, b in buffer.add(x, y)], len(buffer)  # full: half stays to mix
    ([4], 6)
    >>> [len(b) for _, b in buffer.flush()]
    [4, 2]
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

Batch = tuple[np.ndarray, np.ndarray]  # features (B, F), targets (B,)


class ShuffleBuffer:
    """Holds up to ``capacity`` rows (plus the chunk being added) and emits shuffled batches.

    Args:
        capacity: rows to mix before emitting; at least ``2 * batch_size`` so a full buffer
            always has a batch to send.
        batch_size: rows per emitted batch; only ``flush`` may emit a shorter last one.
        rng: the generator that permutes (seeded by the caller: the order is reproducible).
    """

    def __init__(self, capacity: int, batch_size: int, rng: np.random.Generator):
        if capacity < 2 * batch_size:
            raise ValueError(f"capacity {capacity} must be at least 2 x batch_size {batch_size}")
        self.capacity = capacity
        self.batch_size = batch_size
        self.rng = rng
        self._features: list[np.ndarray] = []
        self._targets: list[np.ndarray] = []
        self._rows = 0

    def __len__(self) -> int:
        """Rows held now."""
        return self._rows

    def add(self, features: np.ndarray, targets: np.ndarray) -> Iterator[Batch]:
        """Take a chunk of rows; return the full batches that leave the buffer because of it.

        The rows are taken at once; the batches are made as the iterator is read.

        Args:
            features: (N, F) rows of one chunk.
            targets: (N,) or (N, K) targets of the same rows.
        """
        self._features.append(features)
        self._targets.append(targets)
        self._rows += len(targets)
        if self._rows < self.capacity:
            return iter(())
        return self._emit(keep=self.capacity // 2)

    def flush(self) -> Iterator[Batch]:
        """Everything still held, shuffled: full batches, then at most one shorter batch."""
        return self._emit(keep=0) if self._rows else iter(())

    def _emit(self, keep: int) -> Iterator[Batch]:
        """Permute what is held, keep ``keep`` rows and return the rest as batches.

        Whole batches only, unless flushing (``keep`` 0). The buffer's own state is updated
        before the first batch is made.
        """
        features = np.concatenate(self._features)  # (R, F)
        targets = np.concatenate(self._targets)  # (R,)
        order = self.rng.permutation(len(targets))
        leaving = len(order)
        if keep:  # whole batches only
            leaving = (len(order) - keep) // self.batch_size * self.batch_size
        staying = order[leaving:]
        self._features, self._targets = [features[staying]], [targets[staying]]
        self._rows = len(staying)
        return _batches(features, targets, order[:leaving], self.batch_size)


def _batches(features: np.ndarray, targets: np.ndarray, order: np.ndarray,
             batch_size: int) -> Iterator[Batch]:
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        yield features[rows], targets[rows]  # fancy indexing: contiguous copies
