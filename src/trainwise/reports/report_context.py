"""What the HTML report shows, gathered from a run directory as plain data for the template.

Every file but ``config.yaml`` and ``status.json`` may be missing (an interrupted run has no
metrics, an older run no findings); each section then says so instead of failing.
"""

from __future__ import annotations

import json
import shlex

from trainwise.diagnostics.finding import SEVERITY_ORDER
from trainwise.reports.confusion import cell_colour, hex_colour, row_shares, text_colour
from trainwise.reports.top_losses import top_loss_table
from trainwise.tracking.run_dir import RunDirectory

SPLITS = ("train", "val", "test")
SPLIT_NAMES = {"train": "training", "val": "validation", "test": "test"}
# Metric rows of the metrics table, in order, with their labels ({target} is the unit).
METRIC_LABELS = {
    "mae": "MAE ({target})",
    "rmse": "RMSE ({target})",
    "r2": "R²",
    "mse": "MSE ({target}²)",
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "macro_f1": "macro-F1",
    "pr_auc": "PR-AUC (macro average precision)",
    "nll": "NLL (negative log-likelihood)",
    "crps": "CRPS ({target})",
    "coverage_50": "50 % interval coverage",
    "coverage_90": "90 % interval coverage",
    "coverage_95": "95 % interval coverage",
    "calibration_error": "calibration error (mean |observed − nominal| coverage)",
    "sharpness": "sharpness (mean predicted σ, {target})",
    "rmse_site_mean": "RMSE of the site mean ({target})",
    "rmse_variance": "RMSE of the variance vs site variance ({target}²)",
    "variance_rank_correlation": "rank correlation, predicted vs site variance",
    "n": "rows",
    "n_measurements": "measurements",
    "n_sites": "sites",
}
DROP_REASONS = {"target_missing": "target missing", "inputs_missing": "inputs missing"}


def report_context(run_dir: RunDirectory) -> dict:
    """Everything the report template needs, except the plot images (see ``html.py``).

    Args:
        run_dir: the run to report on.

    Returns:
        A dict of plain values, one key per report section.
    """
    config_text = run_dir.file("config.yaml").read_text()
    data = _optional_json(run_dir, "data_summary.json", {})
    status = _optional_json(run_dir, "status.json", {})
    metrics = _optional_json(run_dir, "metrics.json", {})
    manifest = _optional_json(run_dir, "manifest.json", {})
    target = data.get("target", "target")
    return {
        "run_id": run_dir.run_id,
        "header": _header(status, data),
        "commands": _commands(run_dir, manifest),
        "manifest": manifest,
        "config_yaml": config_text,
        "data": _data_summary(data),
        "model": _model_summary(_optional_json(run_dir, "model_summary.json", None)),
        "findings": _findings(_optional_json(run_dir, "findings.json", [])),
        "metrics": _metrics_table(metrics, target),
        "per_class": _per_class_tables(metrics),
        "confusion": [_confusion_table(split, metrics[split]) for split in ("test", "val")
                      if "confusion_matrix" in metrics.get(split, {})],
        "top_losses": top_loss_table(run_dir),
        "confusion_legend": {"correct": hex_colour(cell_colour(1.0, correct=True)),
                             "error": hex_colour(cell_colour(0.25, correct=False))},
    }


def _header(status: dict, data: dict) -> dict:
    return {
        "status": status.get("status", "unknown"),
        "task": data.get("task"),
        "source": data.get("source"),
        "target": data.get("target"),
        "epochs": status.get("epochs"),
        "epochs_planned": status.get("epochs_planned"),
        "best_epoch": status.get("best_epoch"),
        "best_value": status.get("best_value"),
        "monitor": status.get("monitor"),
        "stop_reason": status.get("stop_reason"),
        "duration": format_duration(status.get("duration_s")),
        "updated_at": status.get("updated_at"),
    }


def _commands(run_dir: RunDirectory, manifest: dict) -> dict:
    """The command that reproduces the run, and the one that started it."""
    # The resolved config holds every setting, the seed and absolute data paths, so training
    # from it again gives the same run, whatever the original command's overrides were.
    config_path = (run_dir.path / "config.yaml").resolve()
    return {"reproduce": f"trainwise train {shlex.quote(str(config_path))}",
            "original": manifest.get("command")}


def _data_summary(data: dict) -> dict:
    rows = data.get("rows", {})
    splits = [split for split in SPLITS if split in rows]
    classes, class_counts = class_names_and_counts(data)
    return {
        "present": bool(data),
        "source": data.get("source"),
        "target": data.get("target"),
        "rows_read": data.get("rows_read"),
        "n_features": data.get("n_features"),
        "numeric_columns": data.get("numeric_columns", []),
        "categorical_columns": list(data.get("categorical_columns", {})),
        "splits": [(SPLIT_NAMES.get(split, split), rows[split]) for split in splits],
        "missing": sorted(data.get("missing_by_column", {}).items(), key=lambda item: -item[1]),
        "missing_handling": data.get("missing_handling"),
        "dropped": [(DROP_REASONS.get(reason, reason), count)
                    for reason, count in data.get("dropped", {}).items()],
        "class_splits": [SPLIT_NAMES.get(split, split) for split in splits
                         if split in class_counts],
        "class_counts": [{"name": name,
                          "counts": [class_counts[split].get(name, 0) for split in splits
                                     if split in class_counts]}
                         for name in classes],
        "imbalance": _imbalance_notes(data),
    }


def class_names_and_counts(data: dict) -> tuple[list, dict]:
    """The classes and their rows per split from ``data_summary.json``.

    Tables record ``classes`` (a list) and ``class_counts`` (split -> class -> rows); array
    inputs (frames, images) record the counts themselves under ``classes``.

    Example:
        >>> class_names_and_counts({"classes": {"train": {"b": 2, "a": 1}, "val": {"a": 1}}})
        (['a', 'b'], {'train': {'b': 2, 'a': 1}, 'val': {'a': 1}})
    """
    classes, counts = data.get("classes"), data.get("class_counts", {})
    if isinstance(classes, dict):
        counts = classes
        classes = sorted({name for split in counts.values() for name in split}, key=str)
    if not classes:
        classes = list(dict.fromkeys(name for split in counts.values() for name in split))
    return classes, counts


def _imbalance_notes(data: dict) -> list[str]:
    """Plain sentences on what was done about class imbalance: balancing, weights, alpha."""
    notes = []
    balance = data.get("balance") or {}
    if balance.get("method") == "smote":
        added = ", ".join(f"{count} {name}" for name, count in
                          balance.get("rows_added_by_class", {}).items() if count)
        notes.append(f"SMOTE added {balance.get('rows_added', 0)} synthetic training rows"
                     f"{f' ({added})' if added else ''}, {balance.get('neighbors')} neighbours; "
                     "validation and test rows are untouched.")
    elif balance.get("method") in ("oversample", "undersample"):
        how = ("over-sampled: rows drawn with replacement, probability ∝ 1 / class count"
               if balance["method"] == "oversample"
               else "under-sampled: every class cut to the smallest class's count")
        notes.append(f"Training rows {how}, drawn anew every epoch.")
    for key, label in (("class_weights", "Class weights"), ("focal_alpha", "Focal alpha")):
        if key in data:
            values = ", ".join(f"{name} {value:.4g}" for name, value in data[key]["values"].items())
            notes.append(f"{label}: {values}; applied to {data[key]['applied_to']}.")
    return notes


def _model_summary(summary: dict | None) -> dict | None:
    if not summary:
        return None
    total, trainable = summary.get("total_params"), summary.get("trainable_params")
    input_shape = summary.get("input_shape") or []
    return {
        "layers": [{"name": layer.get("name"), "type": layer.get("type"),
                    "output_shape": " × ".join(map(str, layer.get("output_shape") or [])),
                    "params": layer.get("params")}
                   for layer in summary.get("layers", [])],
        "total_params": total,
        "trainable_params": trainable,
        "frozen_params": total - trainable if total is not None and trainable is not None else None,
        "input_features": input_shape[-1] if input_shape else None,
    }


def _findings(findings: list[dict]) -> list[dict]:
    """Findings worst first, each ready to render generically, whatever its kind."""
    ordered = sorted(findings, key=lambda item: SEVERITY_ORDER.get(item.get("severity"), 99))
    return [{
        "kind": finding.get("kind"),
        # Only known severities become CSS classes; anything else renders as plain info.
        "severity": finding["severity"] if finding.get("severity") in SEVERITY_ORDER else "info",
        "severity_text": finding.get("severity", "info"),
        "title": finding.get("title", ""),
        "message": finding.get("message", ""),
        "epochs": format_epochs(finding.get("epochs") or []),
        "evidence": list((finding.get("evidence") or {}).items()),
        "advice": finding.get("advice") or [],
    } for finding in ordered]


def _metrics_table(metrics: dict, target: str) -> dict:
    """One row per metric, one column per split (test first: it is the honest estimate)."""
    splits = [split for split in ("test", "val") if split in metrics]
    keys = [key for key in METRIC_LABELS if any(key in metrics[split] for split in splits)]
    return {
        "splits": [SPLIT_NAMES[split] for split in splits],
        "rows": [{"label": METRIC_LABELS[key].format(target=target),
                  "cells": [metrics[split].get(key) for split in splits]} for key in keys],
    }


def _per_class_tables(metrics: dict) -> list[dict]:
    return [{"split": SPLIT_NAMES.get(split, split),
             # Runs recorded before PR-AUC have no average precision: show a dash.
             "rows": [{"name": name, "average_precision": None, **scores}
                      for name, scores in metrics[split]["per_class"].items()]}
            for split in ("test", "val") if "per_class" in metrics.get(split, {})]


def _confusion_table(split: str, metrics: dict) -> dict:
    """The confusion matrix with each cell's colours, the same ones the PNG uses."""
    matrix, classes = metrics["confusion_matrix"], metrics["classes"]
    shares = row_shares(matrix)
    rows = []
    for i, name in enumerate(classes):
        cells = []
        for j, count in enumerate(matrix[i]):
            colour = cell_colour(shares[i][j], i == j)
            cells.append({"count": count, "percent": f"{shares[i][j] * 100:.1f} %",
                          "background": hex_colour(colour), "colour": text_colour(colour),
                          "correct": i == j})
        rows.append({"name": name, "total": sum(matrix[i]), "cells": cells,
                     **class_accuracy(matrix, classes, i)})
    return {"split": split, "split_name": SPLIT_NAMES.get(split, split), "classes": classes,
            "rows": rows}


def class_accuracy(matrix: list[list[int]], classes: list, row: int) -> dict:
    """A true class's accuracy (its recall) and the class it is most often mistaken for.

    Example:
        >>> class_accuracy([[8, 2], [0, 5]], ["a", "b"], 0)
        {'accuracy': 0.8, 'confused_with': 'b', 'confused_count': 2}
    """
    counts = matrix[row]
    total = sum(counts)
    errors = [(count, column) for column, count in enumerate(counts) if column != row and count]
    count, column = max(errors, default=(0, None))
    return {"accuracy": counts[row] / total if total else None,
            "confused_with": str(classes[column]) if column is not None else None,
            "confused_count": count}


def format_duration(seconds: float | None) -> str:
    """``18.2`` -> ``"18.2 s"``, ``185`` -> ``"3 min 5 s"``, ``3725`` -> ``"1 h 2 min"``."""
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def format_epochs(epochs: list[int]) -> str:
    """``[85, 120]`` -> ``"epochs 85–120"``, ``[7]`` -> ``"epoch 7"``, ``[]`` -> whole run."""
    if not epochs:
        return "the whole run"
    first, last = epochs[0], epochs[-1]
    return f"epoch {first}" if first == last else f"epochs {first}–{last}"


def _optional_json(run_dir: RunDirectory, name: str, default):
    path = run_dir.file(name)
    return json.loads(path.read_text()) if path.is_file() else default
