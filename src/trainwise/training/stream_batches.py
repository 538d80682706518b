"""Training batches streamed from a Parquet file, with the interface of ``InMemoryBatches``.

The rows come through a ``torch.utils.data.DataLoader`` over ``StreamingDataset``: persistent
worker processes read and preprocess their chunks in parallel with training, and send blocks
of batches, pinned for a fast copy when the device is CUDA. Only about ``workers x (chunk +
shuffle buffer)`` rows are in memory at a time.

Example:
    >>> batches = StreamingBatches(source, batch_size=512, seed=0,       # doctest: +SKIP
    ...                            device=torch.device("cpu"))
    >>> for x, y, w in batches.epoch(0):                                 # doctest: +SKIP
    ...     ...
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader

from trainwise.data.streaming import StreamError, StreamingDataset, StreamSource
from trainwise.errors import UserError

# Workers send blocks of up to this many batches: one message per block instead of per
# batch cut the training process's receiving time per epoch about sixfold (scenario 2).
MAX_BLOCK_BATCHES = 16


class StreamingBatches:
    """Training rows read from a Parquet file as they are needed, one epoch at a time.

    Workers send blocks of whole batches, which are cut here into batches (views, no
    copies); a worker's last block of an epoch may end in a shorter batch, and those are put
    together here, so an epoch has exactly ``ceil(rows / batch_size)`` batches, like an
    in-memory epoch. The order depends only on ``(seed, epoch)``, the worker count and the
    sizes in the config, so ``skip`` (a resumed epoch) reads past the batches already trained
    and goes on with the same ones a straight run would see.

    Args:
        source: the file, its preprocessing and the reading sizes (``PreparedData.streaming``).
        batch_size: rows per batch.
        seed: the run's seed.
        device: where batches go; blocks are pinned for the copy when it is CUDA.
    """

    def __init__(self, source: StreamSource, batch_size: int, seed: int, device: torch.device):
        self.source = source
        self.batch_size = batch_size
        self.seed = seed
        self.device = torch.device(device)
        # A full shuffle buffer sends out half its rows: let that be at least one block.
        per_block = min(MAX_BLOCK_BATCHES, source.shuffle_buffer // (2 * batch_size))
        self.dataset = StreamingDataset(source, batch_size * max(1, per_block), seed)
        self._loader: DataLoader | None = None  # made at the first epoch: workers start then
        self._ahead: tuple[int, Iterator] | None = None  # (epoch, its blocks), started early

    def __len__(self) -> int:
        """Batches per epoch."""
        return -(-self.n_rows // self.batch_size)

    @property
    def n_rows(self) -> int:
        return self.source.rows

    @property
    def rows_per_epoch(self) -> int:
        return self.n_rows

    def epoch(self, epoch: int, skip: int = 0) -> Iterator[tuple]:
        """Yield ``(x, y, None)`` batches of ``epoch`` on the device, after the first ``skip``.

        Raises:
            UserError: bad data in the file (text in a numeric column, ...) or a file that
                changed while training.
        """
        served, rows, short = 0, 0, []
        for features, targets in _checked(self._blocks(epoch)):
            rows += len(targets)
            whole = len(targets) // self.batch_size * self.batch_size
            if whole < len(targets):  # a worker's last rows: joined with the others' below
                short.append((features[whole:], targets[whole:]))
            first, served = served, served + whole // self.batch_size
            if whole and served > skip:
                yield from self._batches(features[:whole], targets[:whole], skip - first)
        # Every block is in: the workers may read ahead while this epoch ends and validates.
        self._start(epoch + 1)
        for features, targets in _joined(short, self.batch_size):
            served += 1
            if served > skip:
                yield self._on_device(features, targets)
        if rows != self.n_rows:
            raise UserError(f"data.source '{self.source.path}' changed while training: epoch "
                            f"{epoch} read {rows} training rows, the run counted "
                            f"{self.n_rows}. Restore the file, or start a new run.")

    def close(self) -> None:
        """Stop the worker processes now (they also stop when this object is collected)."""
        self._loader = self._ahead = None

    def _blocks(self, epoch: int) -> Iterator:
        """The loader's blocks of ``epoch``: the reading started ahead, or a new one."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == epoch:
            return ahead[1]
        self.dataset.set_epoch(epoch)
        return iter(self._data_loader())  # (persistent workers: restarts their iteration)

    def _start(self, epoch: int) -> None:
        """Let the workers begin ``epoch`` now (a run that ends there wastes one buffer fill)."""
        if self.source.workers > 0:
            self.dataset.set_epoch(epoch)
            self._ahead = (epoch, iter(self._data_loader()))

    def _data_loader(self) -> DataLoader:
        if self._loader is None:
            workers = self.source.workers
            self._loader = DataLoader(
                self.dataset, batch_size=None, num_workers=workers,
                pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
                # Its own generator: the loader draws a worker seed per epoch, and must not
                # take it from the global RNG, which dropout and checkpoints depend on.
                generator=torch.Generator().manual_seed(self.seed))
        return self._loader

    def _batches(self, features: torch.Tensor, targets: torch.Tensor,
                 skip: int) -> Iterator[tuple]:
        """A block of whole batches on the device (one copy), as batches after the first
        ``skip``."""
        features, targets, _ = self._on_device(features, targets)
        for start in range(max(skip, 0) * self.batch_size, len(targets), self.batch_size):
            stop = start + self.batch_size
            yield features[start:stop], targets[start:stop], None

    def _on_device(self, features: torch.Tensor, targets: torch.Tensor) -> tuple:
        pinned = self.device.type == "cuda"
        return (features.to(self.device, non_blocking=pinned),
                targets.to(self.device, non_blocking=pinned), None)


def _checked(items) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The loader's batches; a worker's ``StreamError`` becomes the UserError it was."""
    for item in items:
        if isinstance(item, StreamError):
            raise UserError(item.message)
        yield item


def _joined(batches: list[tuple[torch.Tensor, torch.Tensor]],
            batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Short batches put together into full ones (the very last may stay short)."""
    if not batches:
        return
    features = torch.cat([x for x, _ in batches])  # (R, F), R < workers x batch_size
    targets = torch.cat([y for _, y in batches])
    for start in range(0, len(targets), batch_size):
        yield features[start:start + batch_size], targets[start:start + batch_size]
