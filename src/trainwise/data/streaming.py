"""Training rows streamed from a Parquet file: who reads which chunks, and the reading itself.

A file is a list of row groups; each row group is read in chunks of ``chunk_rows`` rows
(``ParquetFile.iter_batches``). Every epoch the row groups are put in a seeded random order,
the chunk list is rotated by a seeded offset, and the list is cut into one contiguous span
per worker, so the workers share the reading evenly however the file is laid out (one row
group or thousands). Each worker turns its chunks into model inputs with the run's fitted
``Preprocessor`` (``ChunkTransform``), mixes them in a ``ShuffleBuffer`` and yields blocks of
batches. Everything random is seeded from ``(seed, epoch)`` (and the worker's number), so the
rows of an epoch, and their order, depend on nothing else: a resumed run reads the same
batches.

Example:
    >>> [[(p.row_group, p.first_chunk, p.stop_chunk) for p in span]
    ...  for span in plan_epoch([3, 1], workers=2, seed=0, epoch=0)]
    [[(0, 2, 3), (1, 0, 1)], [(0, 0, 2)]]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import IterableDataset, get_worker_info

from trainwise.data.parquet_scan import READ_BUFFER_BYTES
from trainwise.data.preprocess import Preprocessor
from trainwise.data.shuffle_buffer import ShuffleBuffer
from trainwise.data.stream_transform import ChunkTransform
from trainwise.errors import UserError


@dataclass(frozen=True)
class StreamSource:
    """A Parquet file of training rows and how its chunks become model inputs.

    Args:
        path: the Parquet file (``data.source``).
        columns: the columns read: the inputs and the target.
        preprocessor: the run's fitted preprocessing.
        na_values: extra strings that mean "missing" (``data.na_values``).
        rows: training rows (rows with a target) in the file.
        group_rows: rows per row group, from the file's metadata.
        chunk_rows: rows per read.
        shuffle_buffer: rows each reader mixes before emitting (``ShuffleBuffer``).
        workers: DataLoader worker processes (0: read in the training process).
    """

    path: str
    columns: list[str]
    preprocessor: Preprocessor
    na_values: list[str]
    rows: int
    group_rows: list[int]
    chunk_rows: int
    shuffle_buffer: int
    workers: int
    notes: dict = field(default_factory=dict)  # how the sizes were chosen, for the summary

    @property
    def chunks_per_group(self) -> list[int]:
        return [-(-rows // self.chunk_rows) for rows in self.group_rows]

    def first_row(self, row_group: int, chunk: int) -> int:
        """The file row number of a chunk's first row (for error messages)."""
        return sum(self.group_rows[:row_group]) + chunk * self.chunk_rows

    def describe(self) -> dict:
        """For data_summary.json: that the run streams, and how."""
        return {"enabled": True, "workers": self.workers, "chunk_rows": self.chunk_rows,
                "shuffle_buffer": self.shuffle_buffer, "row_groups": len(self.group_rows),
                "pin_memory": "when the device is CUDA", **self.notes}


@dataclass(frozen=True)
class Piece:
    """Chunks ``first_chunk`` to ``stop_chunk`` (exclusive) of one row group."""

    row_group: int
    first_chunk: int
    stop_chunk: int


def plan_epoch(chunks_per_group: list[int], workers: int, seed: int,
               epoch: int) -> list[list[Piece]]:
    """Which chunks each worker reads in ``epoch``, in reading order.

    Args:
        chunks_per_group: chunks in each row group.
        workers: readers to share the chunks among (0 counts as 1: the training process).
        seed, epoch: seed the row-group order and the rotation.

    Returns:
        One list of pieces per worker; together they cover every chunk exactly once, and the
        workers' chunk counts differ by at most one.
    """
    rng = np.random.default_rng(_entropy(seed, epoch))
    order = rng.permutation(len(chunks_per_group))
    chunks = [(int(group), chunk) for group in order for chunk in range(chunks_per_group[group])]
    if chunks:
        # Rotating moves the span boundaries, so even a one-row-group file is cut differently
        # each epoch and a worker does not always read the same part of it.
        shift = int(rng.integers(len(chunks)))
        chunks = chunks[shift:] + chunks[:shift]
    bounds = np.linspace(0, len(chunks), max(workers, 1) + 1).round().astype(int)
    return [_pieces(chunks[start:stop]) for start, stop in zip(bounds[:-1], bounds[1:])]


def _pieces(chunks: list[tuple[int, int]]) -> list[Piece]:
    """Runs of consecutive chunks of one row group, as pieces."""
    pieces: list[Piece] = []
    for group, chunk in chunks:
        last = pieces[-1] if pieces else None
        if last is not None and last.row_group == group and last.stop_chunk == chunk:
            pieces[-1] = Piece(group, last.first_chunk, chunk + 1)
        else:
            pieces.append(Piece(group, chunk, chunk + 1))
    return pieces


def read_pieces(source: StreamSource, pieces: list[Piece]) -> Iterator[tuple[pa.RecordBatch, int]]:
    """The raw rows of ``pieces``, one chunk at a time, with the file row number of its first row.

    A piece that starts inside a row group decodes (and drops) the chunks before it: Parquet
    cannot seek to a row inside a row group. ``plan_epoch`` makes that at most a few row
    groups' worth per worker and epoch.
    """
    with pq.ParquetFile(source.path, buffer_size=READ_BUFFER_BYTES) as parquet:
        for piece in pieces:
            batches = parquet.iter_batches(batch_size=source.chunk_rows, columns=source.columns,
                                           row_groups=[piece.row_group], use_threads=False)
            for chunk, batch in enumerate(batches):
                if chunk >= piece.stop_chunk:
                    break
                if chunk >= piece.first_chunk:
                    yield batch, source.first_row(piece.row_group, chunk)


@dataclass(frozen=True)
class StreamError:
    """A user error met while reading, sent to the training process as data.

    An exception raised in a worker reaches the trainer wrapped in the worker's traceback;
    the message alone is what the user needs (the CLI prints it and exits with code 2).
    """

    message: str


class StreamingDataset(IterableDataset):
    """The rows of one epoch, shuffled, in blocks: each worker reads its span of chunks (see
    ``plan_epoch``).

    A block is a few batches in one array: one message between processes instead of one per
    batch, which costs the training process far less. The epoch is held in shared memory, so
    persistent workers (started once per run) read the new one when the next epoch starts.

    Args:
        source: the file and its preprocessing.
        block_rows: rows per block (a multiple of the batch size); a worker's last block of an
            epoch may be shorter, and need not be whole batches (``StreamingBatches`` puts
            those rows together). At most half of ``source.shuffle_buffer``.
        seed: the run's seed.
    """

    def __init__(self, source: StreamSource, block_rows: int, seed: int):
        self.source = source
        self.block_rows = block_rows
        self.seed = seed
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    def set_epoch(self, epoch: int) -> None:
        self._epoch[0] = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor] | StreamError]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        epoch = int(self._epoch[0])
        pieces = plan_epoch(self.source.chunks_per_group, workers, self.seed, epoch)[worker]
        buffer = ShuffleBuffer(self.source.shuffle_buffer, self.block_rows,
                               np.random.default_rng(_entropy(self.seed, epoch, worker)))
        transform = ChunkTransform(self.source.preprocessor, self.source.na_values)
        where = f"data.source '{self.source.path}'"
        try:
            for batch, first_row in read_pieces(self.source, pieces):
                yield from _tensors(buffer.add(*transform.arrays(batch, first_row, where)))
            yield from _tensors(buffer.flush())
        except UserError as err:
            yield StreamError(str(err))


def _tensors(batches) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for features, targets in batches:
        yield torch.from_numpy(features), torch.from_numpy(targets)


def _entropy(*values: int) -> list[int]:
    """Seed material for numpy from ints that may be negative (``train.seed`` may be)."""
    return [value % 2**64 for value in values]
