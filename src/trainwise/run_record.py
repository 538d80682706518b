"""The files a session writes at the end of training: history, status, and for a run that
completed its final weights, metrics per held-out split and predictions (for a classifier
with each row's loss and confidence, and for array inputs its worst mistakes as examples:
``top_losses.py``).

Every file is written atomically (``RunDirectory`` writes through ``write_atomic``), so a
run killed while writing them still resumes and writes them again.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pandas as pd
import torch
from safetensors.torch import save

from trainwise.atomic import write_atomic
from trainwise.callbacks.monitor import Monitor
from trainwise.run import MODEL_FILE
from trainwise.tasks.base import output_chunk_rows
from trainwise.reports.top_losses import TOP_LOSSES_FILE
from trainwise.top_losses import held_out_split, write_top_losses

if TYPE_CHECKING:
    from trainwise.session import Session

# Per-site runs: each held-out measurement with its site's predicted Normal (calibration plots).
MEASUREMENT_PREDICTIONS_FILE = "measurement_predictions.csv"


def write_final_record(session: Session) -> None:
    """Final weights, and metrics and predictions of every held-out split (the task's)."""
    model, data, run_dir = session.model, session.data, session.run_dir
    model.cpu()
    write_atomic(run_dir.file(MODEL_FILE), lambda handle: handle.write(safetensors_bytes(model)))
    model.eval()
    metrics, predictions, measured = {}, {}, []
    for split in ("val", "test"):
        if split in data.arrays and len(data.arrays[split][0]):
            kept = _kept_validation_outputs(session, model) if split == "val" else None
            result = session.task.evaluate_split(model, session.cfg, data, split, kept)
            metrics[split] = result.metrics
            if data.sample_ids:  # which file (and frame) each row is: to find the examples
                result.rows.insert(1, "item", data.sample_ids[split])
            predictions[split] = result.rows
            measured.append(result.measurement_rows)
    # Arrays whose task scores each row's loss (classification) keep their worst mistakes.
    if data.sample_ids and all("loss" in rows for rows in predictions.values()):
        _write_examples(session, predictions)
    run_dir.write_json("metrics.json", metrics)
    if predictions:
        run_dir.write_text("predictions.csv", pd.concat(predictions.values()).to_csv(index=False))
    if any(rows is not None for rows in measured):
        run_dir.write_text(MEASUREMENT_PREDICTIONS_FILE, pd.concat(measured).to_csv(index=False))


def _kept_validation_outputs(session: Session, model: torch.nn.Module):
    """The last validation pass's outputs (numpy) when they are exactly what evaluating the
    validation split would compute, else None.

    Exactly: the same weights (``KeptOutputs``), the same samples (one process, the whole
    split) and the same forward pass: the module (not a fused step's kernels) over array
    samples in the same chunks, so every value is the same float.
    """
    trainer = session.trainer
    features = session.data.arrays["val"][0]
    if (trainer.last_validation is None or trainer.fused_step is not None
            or trainer.parallel is not None or features.ndim <= 2):
        return None
    chunk = output_chunk_rows(features.shape[1:])
    if min(chunk, len(features)) != min(trainer.eval_batch_size, len(features)):
        return None
    outputs = trainer.last_validation.for_model(model, trainer.state.global_step)
    if outputs is None or len(outputs) != len(features):
        return None
    return outputs.cpu().numpy()


def _write_examples(session: Session, predictions: dict[str, pd.DataFrame]) -> None:
    """top_losses.npz: the held-out split's worst mistakes, for reports to draw."""
    split = held_out_split(list(predictions))
    if split is None:
        return
    prep = session.data.preprocessor
    write_top_losses(session.run_dir.file(TOP_LOSSES_FILE), split, prep.kind,
                     session.data.arrays[split][0], predictions[split], prep)


def write_status(session: Session, status: str, reason: str | None = None) -> None:
    """status.json: how the run ended (or that it runs), its counters and best epoch."""
    state = session.trainer.state
    session.run_dir.write_json("status.json", {
        "status": status,
        "reason": reason,
        "signal": session.received.name,
        "epochs": state.epoch,
        "epochs_planned": session.trainer.epochs,
        "global_step": state.global_step,
        "stop_reason": state.stop_reason,
        "duration_s": sum(record["epoch_time_s"] for record in state.history),
        "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **_best(session),
    })


def write_history(session: Session) -> None:
    """history.json and .csv (one record per epoch), and batch_history.csv when logged."""
    state = session.trainer.state
    session.run_dir.write_json("history.json", state.history)
    session.run_dir.write_text("history.csv", records_csv(state.history))
    if state.batch_history:
        session.run_dir.write_text("batch_history.csv", records_csv(state.batch_history))


def _best(session: Session) -> dict:
    stopping = session.cfg.train.early_stopping
    watch = Monitor(stopping.monitor, stopping.mode)
    for record in session.trainer.state.history:
        watch.update(record)
    return {"monitor": watch.monitor, "best_value": watch.best if watch.best_epoch else None,
            "best_epoch": watch.best_epoch or None}


def safetensors_bytes(model: torch.nn.Module) -> bytes:
    return save({name: tensor.contiguous() for name, tensor in model.state_dict().items()})


def records_csv(records: list[dict]) -> str:
    buffer = io.StringIO()
    columns = list(dict.fromkeys(key for record in records for key in record))
    writer = csv.writer(buffer)
    writer.writerow(columns)
    # Rows as lists, not DictWriter: it checks every row's keys, ~3x slower on a long
    # batch history. A missing key is an empty cell, as DictWriter writes it.
    writer.writerows([[record.get(column, "") for column in columns] for record in records])
    return buffer.getvalue()
