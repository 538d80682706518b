"""``prepare_data`` for a streamed run: everything but the training rows themselves.

The training table is never read whole. Its row count and classes come from one pass over the
target column, missing-value counts from the Parquet metadata, the preprocessing is fitted on
a sample of rows spread over the file (``data.streaming.fit_rows``), and the fingerprint is a
hash of the file's bytes. Validation and test rows come from their own files and are prepared
in memory exactly as in an in-memory run. ``PreparedData.arrays["train"]`` holds the fit
sample, transformed, so everything that wants "some training rows" (baselines, class weights,
the model summary) keeps working; ``PreparedData.streaming`` describes the stream.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from trainwise.config.schema import Config
from trainwise.data.parquet_scan import (ParquetLayout, TargetScan, file_fingerprint,
                                         read_fit_sample, read_layout, scan_target)
from trainwise.data.prepare import (PreparedData, _inputs_of, _split, _summarise,
                                    choose_columns, clean_rows)
from trainwise.data.preprocess import Preprocessor
from trainwise.data.split import describe_split, split_seed
from trainwise.data.stream_plan import StreamDecision, fit_sample_rows, stream_sizes
from trainwise.data.streaming import StreamSource
from trainwise.errors import UserError


def prepare_streamed(cfg: Config, decision: StreamDecision,
                     preprocessor: Preprocessor | None = None,
                     refit_target: bool = False) -> PreparedData:
    """Prepare a run whose training rows stream from ``data.source`` (a Parquet file).

    Args:
        cfg: the validated config (``decide_streaming`` said it streams).
        decision: that decision, recorded in the summary.
        preprocessor, refit_target: as for ``prepare_data``.

    Raises:
        UserError: for every data problem a user can fix.
    """
    data_cfg, where = cfg.data, f"data.source '{cfg.data.source}'"
    layout = read_layout(data_cfg.source, "data.source")
    sample = _fit_sample(cfg, layout)
    numeric, categorical = choose_columns(sample, data_cfg, where)
    inputs = numeric + categorical
    scan = scan_target(data_cfg.source, data_cfg.target, data_cfg.na_values,
                       cfg.task.type == "classification", where)
    _check_scan(scan, data_cfg.target, data_cfg.target_missing, where)
    sample, cleaning = clean_rows(sample, data_cfg, inputs, cfg.task.type, where)
    splits = _split(sample, cfg, inputs)
    prep = _fit(cfg, splits["train"], numeric, categorical, scan, preprocessor, refit_target)
    _check_classes(prep, scan, where)
    arrays = {name: (prep.transform_features(part, f"the {name} split"),
                     prep.transform_target(part[prep.target], f"the {name} split"))
              for name, part in splits.items()}
    source = _source(cfg, layout, prep, scan, len(splits["train"]), decision)
    summary = _summarise(splits, cleaning, prep, cfg)
    summary.update(describe_split(sample, splits, data_cfg.split, split_seed(cfg)))
    _describe_stream(summary, layout, scan, source, inputs)
    return PreparedData(prep, arrays, summary, file_fingerprint(data_cfg.source),
                        streaming=source)


def _fit_sample(cfg: Config, layout: ParquetLayout) -> pd.DataFrame:
    """The fit rows (all columns), with ``data.na_values`` read as missing."""
    streaming = cfg.data.streaming
    rows = fit_sample_rows(streaming, layout.row_bytes(layout.columns))
    sample = read_fit_sample(cfg.data.source, layout, rows, split_seed(cfg))
    if sample.empty:
        raise UserError(f"data.source '{cfg.data.source}' has no rows; a streamed run needs "
                        "training rows in it.")
    return sample.replace(cfg.data.na_values, pd.NA) if cfg.data.na_values else sample


def _check_scan(scan: TargetScan, target: str, target_missing: str, where: str) -> None:
    if scan.missing and target_missing == "error":
        raise UserError(f"{where}: target column '{target}' is empty in {scan.missing} rows. "
                        "Fill them, or set data.target_missing: drop to train on the "
                        "labelled rows only (a streamed run skips them as it reads).")
    if scan.rows == 0:
        raise UserError(f"{where}: target column '{target}' is empty in every row; a "
                        "streamed run needs labelled training rows.")


def _fit(cfg: Config, train: pd.DataFrame, numeric: list[str], categorical: list[str],
         scan: TargetScan, preprocessor: Preprocessor | None,
         refit_target: bool) -> Preprocessor:
    """The preprocessing as ``prepare_data`` fits it, on the sample, with the file's classes.

    Classes come from the whole target column, not the sample: a class the sample missed
    would otherwise stop the run when its first row streams by.
    """
    data_cfg = cfg.data
    if preprocessor is not None and not refit_target:
        return preprocessor
    fitted = Preprocessor.fit(train, [] if preprocessor else numeric,
                              [] if preprocessor else categorical, data_cfg.target,
                              cfg.task.type, data_cfg.scale_target)
    if scan.class_counts is not None:
        fitted = replace(fitted, classes=_classes(scan.class_counts, data_cfg.target))
    return _inputs_of(preprocessor, fitted) if preprocessor else fitted


def _classes(class_counts: dict, target: str) -> list:
    """The classes sorted as ``Preprocessor.fit`` sorts them."""
    frame = pd.DataFrame({target: list(class_counts)})
    return Preprocessor.fit(frame, [], [], target, "classification").classes


def _check_classes(prep: Preprocessor, scan: TargetScan, where: str) -> None:
    """A reused preprocessing (resume, ``model.init_from``) must know every class in the file."""
    if scan.class_counts is not None:
        prep.transform_target(pd.Series(list(scan.class_counts), name=prep.target), where)


def _source(cfg: Config, layout: ParquetLayout, prep: Preprocessor, scan: TargetScan,
            fit_rows: int, decision: StreamDecision) -> StreamSource:
    columns = [*prep.input_columns, prep.target]
    streaming = cfg.data.streaming
    sizes = stream_sizes(streaming, layout.row_bytes(columns), len(prep.feature_names),
                         cfg.train.batch_size)
    fit = ("every row" if fit_rows >= scan.rows else
           f"{fit_rows} rows: a seeded sample of 1,024-row blocks over the file")
    return StreamSource(
        path=cfg.data.source, columns=columns, preprocessor=prep,
        na_values=list(cfg.data.na_values), rows=scan.rows, group_rows=layout.group_rows,
        chunk_rows=sizes.chunk_rows, shuffle_buffer=sizes.shuffle_buffer,
        workers=streaming.workers,
        notes={"reason": decision.reason, "fit_rows": fit_rows, "fitted_on": fit,
               "max_memory_mb": streaming.max_memory_mb, **sizes.notes})


def _describe_stream(summary: dict, layout: ParquetLayout, scan: TargetScan,
                     source: StreamSource, inputs: list[str]) -> None:
    """Counts of the whole training file, where ``_summarise`` only saw the fit sample."""
    summary["rows"]["train"] = scan.rows
    summary["rows_read"] = layout.rows
    summary["dropped"] = {"target_missing": scan.missing} if scan.missing else {}
    nulls = {column: layout.null_counts[column] for column in inputs}
    if all(count is not None for count in nulls.values()):
        summary["missing_by_column"] = {column: n for column, n in nulls.items() if n}
    else:  # the writer kept no statistics: the fit sample's counts are all there is
        summary["missing_counted_in"] = "the fit sample (the file has no null counts)"
    if scan.class_counts is not None:
        summary["class_counts"]["train"] = {str(k): int(v) for k, v in scan.class_counts.items()}
    summary["streaming"] = source.describe()
