"""The raw inputs an export is checked on: the run's test split as raw rows (or samples),
read back the way training read them.

A table's split is cut again with the run's own steps and seed (read, set aside unlabelled
rows, clean, group into sites, split) and must give as many test rows as the run's
``data_summary.json`` recorded: a data file changed since training is refused, not checked
on the wrong rows. Array runs name their held-out samples in ``predictions.csv`` (``item``),
so those are picked by name. Without a test split, the validation split; without either, all
of ``data.source``.
"""

from __future__ import annotations

import pandas as pd

from trainwise.data.prepare import clean_rows
from trainwise.data.read import read_table
from trainwise.data.sites import aggregate_sites
from trainwise.data.split import split_rows, split_seed
from trainwise.data.stream_plan import decide_streaming
from trainwise.data.unlabelled import set_aside_unlabelled
from trainwise.errors import UserError
from trainwise.inputs.arrays.cache import DecodedSet
from trainwise.run import Run

HELD_OUT = ("test", "val")  # checked on the first of these the run has


def held_out_inputs(run: Run):
    """``(raw inputs, what they are)``: a frame of raw rows, or a ``DecodedSet`` of samples.

    Raises:
        UserError: the run streamed its table, or its data changed since training; both
            name ``--check-input`` as the fix.
    """
    if run.config.data.kind == "tabular":
        return _table_rows(run)
    return _array_samples(run)


def _table_rows(run: Run) -> tuple[pd.DataFrame, str]:
    cfg, data_cfg, prep = run.config, run.config.data, run.preprocessor
    if decide_streaming(cfg).stream:
        raise UserError(f"run {run.id} streamed data.source '{data_cfg.source}' (larger than "
                        "data.streaming.max_memory_mb), so its test split is not read back "
                        "whole. Check the export on rows of your own: --check-input rows.csv.")
    source = f"data.source '{data_cfg.source}'"
    inputs = prep.input_columns
    frame = read_table(data_cfg.source, "data.source", data_cfg.na_values)
    frame, _, _ = set_aside_unlabelled(frame, data_cfg, inputs, cfg.task.type)
    frame, _ = clean_rows(frame, data_cfg, inputs, cfg.task.type, source)
    if data_cfg.group_by:
        frame = aggregate_sites(frame, data_cfg.group_by, data_cfg.target, inputs,
                                data_cfg.min_site_count, data_cfg.site_variance_ddof).table
    splits = _split(frame, run)
    split = next((name for name in HELD_OUT if name in splits), None)
    if split is None:
        return frame, f"all {len(frame)} rows of {source} (the run has no held-out split)"
    _require_recorded_size(run, split, len(splits[split]))
    return splits[split], f"the {split} split's {len(splits[split])} rows of {source}"


def _split(frame: pd.DataFrame, run: Run) -> dict[str, pd.DataFrame]:
    """The run's splits of the cleaned table, as ``data.prepare`` cuts them."""
    cfg = run.config
    split_cfg = cfg.data.split
    if split_cfg.method != "files":
        stratify = split_cfg.stratify if split_cfg.stratify is not None else (
            cfg.task.type == "classification")
        return split_rows(frame, split_cfg, cfg.data.target, stratify, split_seed(cfg))
    splits = {"train": frame}
    for name, path in (("val", split_cfg.val_file), ("test", split_cfg.test_file)):
        if path:
            extra = read_table(path, f"data.split.{name}_file", cfg.data.na_values)
            splits[name], _ = clean_rows(extra, cfg.data, run.preprocessor.input_columns,
                                         cfg.task.type, f"data.split.{name}_file '{path}'")
    return splits


def _require_recorded_size(run: Run, split: str, rows: int) -> None:
    summary = run.run_dir.read_json("data_summary.json") if run.run_dir.exists(
        "data_summary.json") else {}
    recorded = summary.get("rows", {}).get(split)
    if recorded is not None and recorded != rows:
        raise UserError(f"run {run.id}: cutting its {split} split again gives {rows} rows, "
                        f"but the run had {recorded}: data.source changed since training. "
                        "Check the export on rows of your own: --check-input rows.csv.")


def _array_samples(run: Run) -> tuple[DecodedSet, str]:
    cfg = run.config
    split_cfg = cfg.data.split
    if split_cfg.method == "files" and split_cfg.test_file:
        decoded = run.inputs.read(split_cfg.test_file, "data.split.test_file", cfg)
        return decoded, f"the {len(decoded.ids)} samples of data.split.test_file"
    decoded = run.inputs.read(cfg.data.source, "data.source", cfg)
    predictions = (pd.read_csv(run.run_dir.file("predictions.csv"))
                   if run.run_dir.exists("predictions.csv") else pd.DataFrame({"split": []}))
    split = next((name for name in HELD_OUT if (predictions["split"] == name).any()), None)
    if split is None:
        return decoded, f"all {len(decoded.ids)} samples of data.source (no held-out split)"
    wanted = set(predictions.loc[predictions["split"] == split, "item"])
    rows = [i for i, item in enumerate(decoded.ids) if item in wanted]
    _require_recorded_size(run, split, len(rows))
    subset = DecodedSet(decoded.samples[rows], [decoded.labels[i] for i in rows],
                        decoded.sessions[rows], [decoded.ids[i] for i in rows],
                        decoded.fingerprint)
    return subset, f"the {split} split's {len(rows)} samples of data.source"
