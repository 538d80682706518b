"""What the dashboard shows of a run, read from the run store and the run directory.

Plain data only (JSON-ready dicts); the pages draw it. Any file a run may not have yet (a
running run has no metrics, an interrupted one no findings) is simply absent from the result.
"""

from __future__ import annotations

import json
from pathlib import Path


from trainwise.serve.settings import ServeSettings
from trainwise.serve.warm import load_reports
from trainwise.tracking.liveness import observed_status
from trainwise.tracking.run_lock import RunLock
from trainwise.tracking.store import RunStore
from trainwise.yaml_io import load_yaml

CONFUSION_VAL_FILE = "confusion_val.json"  # written by callbacks.ValidationConfusion
UNFINISHED_ENDS = ("stopped", "interrupted", "failed")  # ended without findings.json
# An initial page gets at most this many per-batch points (a few per pixel of the widest
# chart); longer runs are thinned evenly (every k-th step), and the live updates that follow
# add every new step. Sending all of them made a long run's page slow to first draw.
MAX_SNAPSHOT_BATCHES = 5_000


def run_summary(row: dict) -> dict:
    """A store row with its observed status (``tracking.liveness``): a run marked running
    whose process is gone is ``interrupted``, with ``resume_command`` to pick it up again.
    ``alive`` says whether a running run's process still exists (as far as can be told from
    here), and is absent for runs that are not running.
    """
    summary = dict(row)
    if row.get("status") == "running":
        summary["status"] = observed_status(row)
        summary["alive"] = summary["status"] == "running"
    if summary["status"] == "interrupted":
        summary["resume_command"] = f"trainwise resume {row['id']}"
    return summary


def run_path(settings: ServeSettings, row: dict | None) -> Path | None:
    """The run's directory when it lies in the workspace's runs folder, else None."""
    if not row or not row.get("path"):
        return None
    path = Path(row["path"]).resolve()
    return path if path.is_relative_to(settings.runs_dir) and path.is_dir() else None


def run_detail(settings: ServeSettings, store: RunStore, row: dict) -> dict:
    """Everything the run page shows except the curves (see ``run_snapshot``)."""
    path = run_path(settings, row)
    detail = {"run": run_summary(row)}
    if path is None:
        return detail
    load_reports()  # the panels below read the run's files with the reports' functions
    data = _json(path / "data_summary.json") or {}
    metrics = _json(path / "metrics.json") or {}
    status = _json(path / "status.json") or {}
    # A run fitted from Python leaves its plots to whoever shows them (docs/design.md, "Plots
    # are drawn by whoever shows them"): the first page view draws them, once the training
    # process has let go of the run (`trainwise train` draws its own after status "finished").
    if status.get("status") == "finished" and not RunLock(path).held_elsewhere():
        from trainwise.reports.plots import draw_missing_plots

        draw_missing_plots(path)
    detail.update({
        "status": status,
        "config": _config(path),
        "labels": labels(data),
        "rows": data.get("rows"),
        "model": model_info(path, row, data),
        "findings": findings(path, store, row),
        "metrics": metrics,
        "confusion": confusion_views(path, metrics),
        "top_losses": top_losses_view(path, row["id"]),
        "files": files(path, row["id"]),
    })
    return detail


def run_snapshot(settings: ServeSettings, store: RunStore, run_id: str) -> dict | None:
    """The run page's first state: detail, every epoch, the batch losses, cursors."""
    row = store.get_run(run_id)
    if row is None:
        return None
    history = store.history(run_id)
    batches = store.batches(run_id)
    last_step = batches[-1]["step"] if batches else 0
    return {**run_detail(settings, store, row), "history": history,
            "batches": thin(batches, MAX_SNAPSHOT_BATCHES), "last_step": last_step}


def labels(data_summary: dict) -> dict | None:
    """The classes and their row counts per split, from ``data_summary.json``."""
    from trainwise.reports.report_context import class_names_and_counts

    classes, counts = class_names_and_counts(data_summary)
    if not classes:
        return None
    return {"classes": [str(name) for name in classes],
            "counts": {split: {str(name): counts[split].get(str(name), 0) for name in classes}
                       for split in ("train", "val", "test") if split in counts}}


def model_info(path: Path, row: dict, data_summary: dict) -> dict:
    """Layers, parameter counts, input shape, labels, best epoch and checkpoint files."""
    summary = _json(path / "model_summary.json") or {}
    checkpoints = [
        {"name": file.relative_to(path).as_posix(), "bytes": file.stat().st_size}
        for file in [*sorted((path / "checkpoints").glob("*.pt")), path / "model.safetensors"]
        if file.is_file()]
    return {
        "layers": summary.get("layers", []),
        "total_params": summary.get("total_params"),
        "trainable_params": summary.get("trainable_params"),
        "input_shape": summary.get("input_shape"),
        "inputs": data_summary.get("n_features"),
        "classes": (labels(data_summary) or {}).get("classes"),
        "monitor": row.get("monitor"),
        "best_epoch": row.get("best_epoch"),
        "best_value": row.get("best_value"),
        "checkpoints": checkpoints,
    }


def findings(path: Path, store: RunStore, row: dict) -> dict | None:
    """The diagnosis: ``findings.json`` once a run has finished; for a run that stopped,
    was interrupted or failed, read from its history so far; None while it runs (or has
    just finished and is still writing ``findings.json``).

    Returns:
        ``{"items": [finding dicts], "source": where they come from}`` or None.
    """
    saved = _json(path / "findings.json")
    if saved is not None:
        return {"items": saved, "source": "findings.json"}
    if row.get("status") not in UNFINISHED_ENDS or not row.get("epochs"):
        return None
    from trainwise.diagnostics import context_from_run, diagnose

    items = [finding.to_dict() for finding in diagnose(store.history(row["id"]),
                                                       context_from_run(path))]
    return {"items": items, "source": f"the history so far (the run is {row['status']})"}


def confusion_views(path: Path, metrics: dict) -> dict:
    """``{"val": ..., "test": ...}``: the live validation matrix, or the final ones.

    The final validation matrix (metrics.json, the restored best weights) replaces the live
    one once the run has finished.
    """
    load_reports()  # also called by the live updates, for a matrix that has just appeared
    views = {}
    live = _json(path / CONFUSION_VAL_FILE)
    if live:
        views["val"] = confusion_view(live["classes"], live["matrix"], "val", live["epoch"])
    for split in ("val", "test"):
        final = metrics.get(split, {})
        if "confusion_matrix" in final:
            views[split] = confusion_view(final["classes"], final["confusion_matrix"], split)
    return views


def confusion_view(classes: list, matrix: list[list[int]], split: str,
                   epoch: int | None = None) -> dict:
    """The matrix with each cell's count, row share and colours (the report's colours).

    Args:
        classes: class names, rows true and columns predicted in this order.
        matrix: counts ``[true][predicted]``.
        split: "val" or "test".
        epoch: the epoch a live matrix was measured after; None for the final one.

    Returns:
        ``{"split", "epoch", "classes", "rows": [{"name", "total", "cells": [...]}]}``, each
        cell ``{"count", "share", "background", "colour", "correct"}``; each row also has
        its class's ``accuracy`` (recall) and the class it is ``confused_with`` most.
    """
    # Imported here: it loads matplotlib, which the server needs for nothing else this early.
    from trainwise.reports.confusion import cell_colour, hex_colour, row_shares, text_colour
    from trainwise.reports.report_context import class_accuracy

    shares = row_shares(matrix)
    rows = []
    for i, name in enumerate(classes):
        cells = []
        for j, count in enumerate(matrix[i]):
            colour = cell_colour(shares[i][j], i == j)
            cells.append({"count": count, "share": shares[i][j], "background": hex_colour(colour),
                          "colour": text_colour(colour), "correct": i == j})
        rows.append({"name": str(name), "total": sum(matrix[i]), "cells": cells,
                     **class_accuracy(matrix, classes, i)})
    return {"split": split, "epoch": epoch, "classes": [str(name) for name in classes],
            "rows": rows}


def top_losses_view(path: Path, run_id: str) -> dict | None:
    """A finished classifier's worst held-out mistakes: the table, and the URL of their
    drawing (frames and images runs) once the plots are drawn; None before.

    Returns:
        ``{"split", "split_name", "errors", "rows": [{"rank", "item", "actual", "predicted",
        "confidence", "loss"}], "image": url or None}`` or None.
    """
    from trainwise.reports.top_losses import top_loss_table
    from trainwise.tracking.run_dir import RunDirectory

    table = top_loss_table(RunDirectory(path))
    if table is None:
        return None
    drawn = (path / "plots" / "top_losses.png").is_file()
    return {**table, "image": f"/files/{run_id}/plots/top_losses.png" if drawn else None}


def files(path: Path, run_id: str) -> dict:
    """URLs of the run's plots and report (the report is written on first request)."""
    plots = sorted(file.name for file in (path / "plots").glob("*.png"))
    return {"plots": [f"/files/{run_id}/plots/{name}" for name in plots],
            "report": f"/runs/{run_id}/report"}


def thin(batches: list[dict], limit: int) -> list[dict]:
    """Every k-th batch so that at most ``limit`` remain, always keeping the last one."""
    if len(batches) <= limit:
        return batches
    stride = -(-len(batches) // limit)  # ceiling division
    kept = batches[::stride]
    return kept if kept[-1] is batches[-1] else [*kept, batches[-1]]


def _config(path: Path) -> dict:
    text = (path / "config.yaml").read_text() if (path / "config.yaml").is_file() else ""
    return {"yaml": text, "values": load_yaml(text) or {}}


def _json(path: Path):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
