"""What a streamed run learns about its Parquet file before training, in bounded memory.

- ``read_layout``: row groups, sizes and missing counts, from the file's metadata alone;
- ``scan_target``: one pass over the target column: rows with a target, and class counts;
- ``read_fit_sample``: the rows the preprocessing is fitted on, spread over the whole file;
- ``file_fingerprint``: a hash of the file's bytes, checked on resume.

Example:
    >>> layout = read_layout("train.parquet", "data.source")          # doctest: +SKIP
    >>> layout.rows, layout.group_rows                                  # doctest: +SKIP
    (1500000, [75000, 75000, ...])
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trainwise.data.preprocess import numeric_column
from trainwise.errors import UserError

# The fit sample is made of blocks of this many consecutive rows: small enough to spread the
# sample over the whole file, large enough to read efficiently.
FIT_BLOCK_ROWS = 1024
READ_BLOCKS = 16  # blocks decoded per read while sampling
# Rows per read when scanning the target column (one column: cheap at any size).
SCAN_CHUNK_ROWS = 1 << 18
# Read column chunks through a buffer of this size: without one pyarrow loads a whole column
# chunk at once, so memory would grow with the file's row-group size instead of the chunk's.
READ_BUFFER_BYTES = 1 << 20


@dataclass(frozen=True)
class ParquetLayout:
    """A Parquet file as its metadata describes it.

    Args:
        columns: column names, in file order.
        group_rows: rows per row group.
        column_bytes: uncompressed bytes per column, over the whole file.
        null_counts: missing values per column, or None where the writer kept no statistics.
    """

    columns: list[str]
    group_rows: list[int]
    column_bytes: dict[str, int]
    null_counts: dict[str, int | None]

    @property
    def rows(self) -> int:
        return sum(self.group_rows)

    @property
    def megabytes(self) -> float:
        """The whole table's uncompressed size: about what reading it into memory costs."""
        return sum(self.column_bytes.values()) / 2**20

    def row_bytes(self, columns: list[str]) -> float:
        """Uncompressed bytes per row of ``columns`` (at least 1)."""
        return max(1.0, sum(self.column_bytes[c] for c in columns) / max(self.rows, 1))


def read_layout(path: str, field: str) -> ParquetLayout:
    """The layout of the Parquet file ``path`` (named by config field ``field``).

    Raises:
        UserError: the file is missing or is not a readable Parquet file.
    """
    if not Path(path).is_file():
        raise UserError(f"{field}: file '{path}' does not exist; check the path "
                        "(relative paths are read from the config file's folder)")
    try:
        metadata = pq.ParquetFile(path).metadata
    except (OSError, pa.ArrowException) as err:
        raise UserError(f"{field}: could not read '{path}' as a Parquet file: {err}. Check "
                        "that the file is complete and in that format.") from None
    columns = [metadata.schema.column(i).name for i in range(metadata.num_columns)]
    column_bytes = dict.fromkeys(columns, 0)
    null_counts: dict[str, int | None] = dict.fromkeys(columns, 0)
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index, name in enumerate(columns):
            chunk = row_group.column(index)
            column_bytes[name] += chunk.total_uncompressed_size
            stats = chunk.statistics
            known = stats is not None and stats.has_null_count and null_counts[name] is not None
            null_counts[name] = null_counts[name] + stats.null_count if known else None
    return ParquetLayout(columns, [metadata.row_group(g).num_rows
                                   for g in range(metadata.num_row_groups)],
                         column_bytes, null_counts)


@dataclass(frozen=True)
class TargetScan:
    """The target column, counted: rows with and without a target, and rows per class."""

    rows: int  # rows with a target
    missing: int  # rows without one (na_values included)
    class_counts: dict | None  # classification: class -> rows; else None


def scan_target(path: str, target: str, na_values: list[str], classification: bool,
                where: str) -> TargetScan:
    """Read the target column once, in chunks.

    Raises:
        UserError: a regression target holds text (with a sample of it).
    """
    rows = missing = 0
    counts: Counter = Counter()
    with pq.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(batch_size=SCAN_CHUNK_ROWS, columns=[target]):
            values = batch.to_pandas()
            if na_values:
                values = values.replace(na_values, pd.NA)
            values.index = pd.RangeIndex(rows + missing, rows + missing + len(values))
            present = values[target].notna()
            rows += int(present.sum())
            missing += int((~present).sum())
            if classification:
                counts.update(values[target][present].value_counts().to_dict())
            else:
                numeric_column(values, target, where)  # text stops here, with a sample
    return TargetScan(rows, missing, dict(counts) if classification else None)


def read_fit_sample(path: str, layout: ParquetLayout, rows: int, seed: int) -> pd.DataFrame:
    """At least ``rows`` rows (all columns) from blocks spread over the whole file; all rows
    when the file has no more than that.

    Blocks of ``FIT_BLOCK_ROWS`` rows (shorter at the end of a row group) are drawn without
    replacement, seeded by ``seed``, until they hold ``rows``, and read in file order; a row
    group with no drawn block is not read at all.

    Returns:
        The rows, indexed by their row numbers in the file.
    """
    blocks = [(group, block) for group, n in enumerate(layout.group_rows)
              for block in range(-(-n // FIT_BLOCK_ROWS))]
    sizes = [min(FIT_BLOCK_ROWS, layout.group_rows[group] - block * FIT_BLOCK_ROWS)
             for group, block in blocks]
    if rows < layout.rows:
        # Blocks in a seeded random order, as many as it takes to reach ``rows``.
        order = np.random.default_rng(seed % 2**64).permutation(len(blocks))
        taken = int(np.searchsorted(np.cumsum(np.asarray(sizes)[order]), rows)) + 1
        blocks = [blocks[i] for i in sorted(order[:taken])]
    chosen: dict[int, set[int]] = {}
    for group, block in blocks:
        chosen.setdefault(group, set()).add(block)
    frames = []
    with pq.ParquetFile(path, buffer_size=READ_BUFFER_BYTES) as parquet:
        for group, picked in chosen.items():
            first_row = sum(layout.group_rows[:group])
            # Decoded READ_BLOCKS blocks at a time: one small read per block costs more.
            batches = parquet.iter_batches(batch_size=FIT_BLOCK_ROWS * READ_BLOCKS,
                                           row_groups=[group])
            for number, batch in enumerate(batches):
                if number * READ_BLOCKS > max(picked):
                    break
                for block in sorted(b for b in picked if b // READ_BLOCKS == number):
                    start = (block % READ_BLOCKS) * FIT_BLOCK_ROWS
                    frame = batch.slice(start, FIT_BLOCK_ROWS).to_pandas()
                    frame.index = pd.RangeIndex(first_row + block * FIT_BLOCK_ROWS,
                                                first_row + block * FIT_BLOCK_ROWS + len(frame))
                    frames.append(frame)
    return pd.concat(frames) if frames else pd.DataFrame(columns=layout.columns)


def file_fingerprint(path: str) -> str:
    """A short hash of the file's bytes, read in 1 MiB blocks.

    Exact (any changed byte changes it) at the cost of one sequential read of the file,
    far less than an epoch of training on it. Unlike the in-memory fingerprint it is not
    blind to how the file was written: the same rows rewritten differently count as changed.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]
