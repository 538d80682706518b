"""Whether a run streams its training rows, and the sizes that keep its memory bounded.

``data.streaming.enabled: auto`` streams when the training table would not fit in
``max_memory_mb`` and the config is one a stream can serve; ``true`` streams or says, naming
the field, what stands in the way; ``false`` never streams.

Example:
    >>> from trainwise.config import load_config
    >>> cfg = load_config({"data": {"source": "auto_mpg", "target": "mpg"}})
    >>> decide_streaming(cfg)
    StreamDecision(stream=False, reason="data.source 'auto_mpg' is not a Parquet file")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainwise.config.schema import Config
from trainwise.config.streaming import StreamingConfig
from trainwise.data.parquet_scan import read_layout
from trainwise.errors import UserError

PARQUET_SUFFIXES = (".parquet", ".pq")
# Shares of max_memory_mb: the readers' chunks and shuffle buffers together, and the fit sample.
# The rest is left for the model, validation rows, and the interpreter's own working memory.
BUFFER_SHARE = 0.5
FIT_SHARE = 0.25
DEFAULT_FIT_ROWS = 100_000
MIN_FIT_ROWS = 1024
# The caps keep an epoch's first batch quick: a reader emits nothing until its shuffle buffer
# is full (~0.1 s for 65,536 rows of 50 numbers), and reads a chunk before it adds it.
MIN_CHUNK_ROWS, MAX_CHUNK_ROWS = 1024, 16_384
MAX_SHUFFLE_ROWS = 65_536
# A raw chunk exists as an Arrow batch and a pandas frame at once (then as features).
RAW_COPIES = 2
# The fit sample exists as read, cleaned, and as float64 blocks, stacked, and float32 features
# while it is transformed: about six row-sized copies at the peak (measured: 64,000 rows of
# 51 float32 columns took 85 MB).
FIT_COPIES = 6
# A shuffle buffer is concatenated (old rows + new chunk) when it empties: two copies.
BUFFER_COPIES = 2


@dataclass(frozen=True)
class StreamDecision:
    """Stream or not, and why (recorded in data_summary.json either way)."""

    stream: bool
    reason: str


def decide_streaming(cfg: Config) -> StreamDecision:
    """Apply ``data.streaming.enabled`` to this config and its data file.

    Raises:
        UserError: ``enabled: true`` with a config that cannot stream (naming the field and
            the fix), or a Parquet file that cannot be read.
    """
    enabled = cfg.data.streaming.enabled
    if enabled is False:
        return StreamDecision(False, "data.streaming.enabled: false")
    obstacles = unsupported(cfg)
    if obstacles and enabled is True:
        raise UserError("data.streaming.enabled: true, but this config cannot stream:\n"
                        + "\n".join(f"  - {text}" for text in obstacles.values())
                        + "\nFix these, or set data.streaming.enabled: auto (or false) to "
                        "read the table into memory.")
    if obstacles:
        return StreamDecision(False, next(iter(obstacles.values())).split(";")[0])
    if enabled is True:
        return StreamDecision(True, "data.streaming.enabled: true")
    if not Path(cfg.data.source).is_file():
        return StreamDecision(False, f"data.source '{cfg.data.source}' is not a file")
    size = read_layout(cfg.data.source, "data.source").megabytes
    limit = cfg.data.streaming.max_memory_mb
    if size <= limit:
        return StreamDecision(False, f"the table ({size:.0f} MB uncompressed) fits in "
                                     f"data.streaming.max_memory_mb ({limit:g})")
    return StreamDecision(True, f"the table ({size:.0f} MB uncompressed) exceeds "
                                f"data.streaming.max_memory_mb ({limit:g})")


def unsupported(cfg: Config) -> dict[str, str]:
    """Config field -> why a streamed run cannot have it, and the fix."""
    data, problems = cfg.data, {}
    if Path(data.source).suffix.lower() not in PARQUET_SUFFIXES:
        problems["data.source"] = (
            f"data.source '{data.source}' is not a Parquet file; streaming reads Parquet row "
            "groups. Convert it once, e.g. pandas.read_csv('train.csv').to_parquet("
            "'train.parquet', row_group_size=100_000)")
    if data.split.method not in ("files", "none"):
        problems["data.split.method"] = (
            f"data.split.method '{data.split.method}' would cut validation and test rows out "
            "of the streamed table; a streamed run reads them from their own files: set "
            "data.split.method: files with val_file (and test_file), or none")
    if data.balance != "none":
        problems["data.balance"] = (
            f"data.balance '{data.balance}' is not streamed (it needs every row's class at "
            "once); set data.balance: none, and task.class_weights: balanced instead")
    if data.group_by:
        problems["data.group_by"] = (
            "data.group_by is not streamed (a site's rows must be aggregated together); "
            "aggregate the sites into the file first, or read it into memory")
    if cfg.train.pseudo_label.enabled or data.target_missing == "unlabelled":
        problems["train.pseudo_label"] = (
            "train.pseudo_label (data.target_missing: unlabelled) is not streamed; set "
            "train.pseudo_label.enabled: false and data.target_missing: drop or error")
    if data.missing == "drop":
        problems["data.missing"] = (
            "data.missing: drop is not streamed (rows are counted from the file before they "
            "are read); set data.missing: impute, or remove those rows from the file")
    return problems


@dataclass(frozen=True)
class StreamSizes:
    """Rows per read and per shuffle buffer, and how they were chosen."""

    chunk_rows: int
    shuffle_buffer: int
    notes: dict


def fit_sample_rows(streaming: StreamingConfig, raw_row_bytes: float) -> int:
    """``fit_rows``, or 100,000 rows when ``FIT_SHARE`` of the budget holds them (fewer if not)."""
    if streaming.fit_rows is not None:
        return streaming.fit_rows
    budget = streaming.max_memory_mb * 2**20 * FIT_SHARE
    return int(max(MIN_FIT_ROWS, min(DEFAULT_FIT_ROWS, budget / (raw_row_bytes * FIT_COPIES))))


def stream_sizes(streaming: StreamingConfig, raw_row_bytes: float, n_features: int,
                 batch_size: int) -> StreamSizes:
    """Chunk and shuffle-buffer rows: as configured, or sized to ``BUFFER_SHARE`` of the budget.

    Args:
        streaming: ``data.streaming``.
        raw_row_bytes: uncompressed bytes per row of the columns read.
        n_features: model inputs per row (float32 each).
        batch_size: ``train.batch_size``.

    Raises:
        UserError: a configured shuffle buffer smaller than two batches.
    """
    feature_bytes = 4.0 * (n_features + 1)  # + the target
    per_reader = (streaming.max_memory_mb * 2**20 * BUFFER_SHARE) / max(streaming.workers, 1)
    chunk_cost = raw_row_bytes * RAW_COPIES + feature_bytes
    chunk_rows = streaming.chunk_rows or int(
        min(MAX_CHUNK_ROWS, max(MIN_CHUNK_ROWS, per_reader / 4 / chunk_cost)))
    shuffle = streaming.shuffle_buffer or int(min(MAX_SHUFFLE_ROWS, max(
        2 * batch_size, (per_reader - chunk_rows * chunk_cost) / (feature_bytes * BUFFER_COPIES))))
    if shuffle < 2 * batch_size:
        raise UserError(f"data.streaming.shuffle_buffer ({shuffle}) must hold at least two "
                        f"batches (2 x train.batch_size = {2 * batch_size}); raise it, or "
                        "leave it out to size it from max_memory_mb")
    estimate = max(streaming.workers, 1) * (chunk_rows * chunk_cost
                                            + shuffle * feature_bytes * BUFFER_COPIES)
    return StreamSizes(chunk_rows, shuffle, {
        "chunk_rows_from": "config" if streaming.chunk_rows else "max_memory_mb",
        "shuffle_buffer_from": "config" if streaming.shuffle_buffer else "max_memory_mb",
        "buffers_estimate_mb": round(estimate / 2**20, 1)})
