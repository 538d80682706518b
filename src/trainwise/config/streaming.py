"""``data.streaming``: train from a Parquet file too large to hold in memory (docs/large_data.md).

Its own file so the data section in ``schema.py`` gains one line. Whether a config can stream
at all (a Parquet source, validation from files, no class balancing...) depends on the data
file too, so those rules live with the data: ``trainwise.data.stream_plan``.

Example:
    >>> StreamingConfig(enabled=True, workers=4).max_memory_mb
    1024.0
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StreamingConfig(BaseModel):
    # Like every config section: unknown keys are errors, assignments re-validated, numbers
    # finite.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    # auto: stream when the training table (its uncompressed size in the Parquet metadata)
    # exceeds max_memory_mb and the config allows streaming; true: always (or say why not);
    # false: read the whole table into memory.
    enabled: bool | Literal["auto"] = "auto"
    # auto's threshold, and the budget a streamed run keeps its buffers within (half of it is
    # shared among the workers' chunks and shuffle buffers).
    max_memory_mb: float = Field(1024.0, gt=0.0)
    workers: int = Field(2, ge=0)  # DataLoader worker processes reading chunks; 0 = main process
    # Rows per Parquet read; None: sized from max_memory_mb and the row width (<= 16,384).
    chunk_rows: int | None = Field(None, ge=1)
    # Rows each worker shuffles among before emitting batches; None: sized from max_memory_mb
    # (<= 65,536). At least 2 x train.batch_size.
    shuffle_buffer: int | None = Field(None, ge=1)
    # Rows the preprocessing (standardisation, imputation, categories) is fitted on: a seeded
    # sample of 1,024-row blocks spread over the whole file; all rows when the file has fewer.
    # None: 100,000, or fewer when a quarter of max_memory_mb cannot hold them.
    fit_rows: int | None = Field(None, ge=1)
