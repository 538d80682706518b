"""Every PNG plot of a run, drawn from the files in its run directory into ``plots/``.

The plots are made from the run record alone (no model, no data), so they can be redrawn
for any finished or interrupted run, and the HTML report can redraw the ones missing.

Example:
    >>> write_plots("runs/20261121-101500-auto_mpg")                  # doctest: +SKIP
    [PosixPath('runs/20261121-101500-auto_mpg/plots/loss.png'), ...]
"""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

from trainwise.reports.calibration import (plot_pit_histogram, plot_reliability,
                                           plot_variance_vs_site)
from trainwise.reports.confusion import plot_confusion_matrix
from trainwise.reports.curves import curve_keys, plot_curve
from trainwise.reports.optimizer_curves import epoch_end_steps, plot_grad_norm, plot_learning_rate
from trainwise.reports.regression import plot_predicted_vs_actual, plot_residuals
from trainwise.reports.top_losses import plot_top_losses, read_examples
from trainwise.tracking.run_dir import RunDirectory
from trainwise.yaml_io import load_yaml

# The split the regression scatter plots show: test when there is one, else validation.
PREDICTION_SPLITS = ("test", "val")
SPLIT_NAMES = {"val": "validation", "test": "test"}


def write_plots(run_path: str | Path) -> list[Path]:
    """Draw every plot the run's files allow into its ``plots/`` folder.

    Args:
        run_path: the run directory.

    Returns:
        The PNG paths written, in reading order: curves, learning rate, gradient norm, then
        confusion matrices and top losses, or regression plots.
    """
    run_dir = RunDirectory(run_path)
    run_dir.plots.mkdir(parents=True, exist_ok=True)
    return [draw(run_dir.plots / name) for name, draw in _plot_jobs(run_dir).items()]


# One drawer at a time in a process: the dashboard serves requests on several threads, and
# two pages of one run asking at once must not draw (and write) the same files together.
_drawing = threading.Lock()


def draw_missing_plots(run_path: str | Path) -> list[Path]:
    """``write_plots`` when any planned plot is missing (a run fitted with ``plots=False``);
    the paths written, or [] when all were there."""
    with _drawing:
        if all(path.is_file() for path in planned_plots(run_path)):
            return []
        return write_plots(run_path)


def planned_plots(run_path: str | Path) -> list[Path]:
    """The PNG paths ``write_plots`` would write for this run, drawn or not."""
    run_dir = RunDirectory(run_path)
    return [run_dir.plots / name for name in _plot_jobs(run_dir)]


def _plot_jobs(run_dir: RunDirectory) -> dict[str, Callable[[Path], Path]]:
    """File name -> a function that draws it to a given path, for what the run has."""
    config = _read_yaml(run_dir, "config.yaml")
    history = _read_json(run_dir, "history.json", [])
    status = _read_json(run_dir, "status.json", {})
    metrics = _read_json(run_dir, "metrics.json", {})
    best_epoch = status.get("best_epoch")
    jobs: dict[str, Callable[[Path], Path]] = {}
    if history:
        labels = _axis_labels(config)
        for key in curve_keys(history):
            jobs[f"{key}.png"] = partial(plot_curve, history, key, best_epoch=best_epoch,
                                         label=labels.get(key, key))
        if _learning_rate_moved(run_dir, history):
            batch_rows = _read_csv(run_dir, "batch_history.csv")
            end_steps, unit = epoch_end_steps(history, batch_rows, status.get("global_step"))
            # Step schedules log each step's rate; epoch schedules leave the column out.
            step_rates = [(int(row["step"]), float(row["lr"])) for row in batch_rows or []
                          if row.get("lr")]
            jobs["lr.png"] = partial(plot_learning_rate, history, end_steps, unit,
                                     best_epoch=best_epoch, step_rates=step_rates or None)
        if any(record.get("grad_norm") is not None for record in history):
            jobs["grad_norm.png"] = partial(plot_grad_norm, history, best_epoch=best_epoch)
    for split, split_metrics in metrics.items():
        if "confusion_matrix" in split_metrics:
            jobs[f"confusion_{split}.png"] = partial(
                plot_confusion_matrix, split_metrics["confusion_matrix"],
                split_metrics["classes"],
                title=f"confusion matrix, {SPLIT_NAMES.get(split, split)} split")
    examples = read_examples(run_dir)  # a classifier's worst mistakes on frames or images
    if examples is not None:
        jobs["top_losses.png"] = partial(plot_top_losses, examples)
    jobs.update(_regression_jobs(run_dir, config))
    jobs.update(_calibration_jobs(run_dir, config))
    return jobs


def _learning_rate_moved(run_dir: RunDirectory, history: list[dict]) -> bool:
    """Whether the learning rate changed during the run: between epochs (an epoch schedule,
    plateau reductions) or within them (a step schedule logs each step's rate).

    A constant rate gets no plot: a flat line says no more than the config's ``train.lr``,
    and drawing it cost ~0.1 s of every run.
    """
    rates = {record.get("lr") for record in history} - {None}
    if len(rates) > 1:
        return True
    if not rates:
        return False
    path = run_dir.file("batch_history.csv")
    if not path.is_file():
        return False
    with path.open(newline="") as handle:
        header = next(csv.reader(handle), [])
        if "lr" not in header:
            return False
        column = header.index("lr")
        return len({row[column] for row in csv.reader(handle) if row and row[column]}) > 1


def _regression_jobs(run_dir: RunDirectory, config: dict) -> dict[str, Callable[[Path], Path]]:
    """The predicted-vs-actual and residual plots of a regression run's held-out rows."""
    if config.get("task", {}).get("type") not in ("regression", "probabilistic_regression"):
        return {}
    split, chosen = _held_out_rows(run_dir, "predictions.csv")
    if not chosen:
        return {}
    actual = [float(row["actual"]) for row in chosen]
    predicted = [float(row["predicted"]) for row in chosen]
    target = config.get("data", {}).get("target", "target")
    name = SPLIT_NAMES[split]
    return {
        "predicted_vs_actual.png": partial(plot_predicted_vs_actual, actual, predicted,
                                           target=target, split=name),
        "residuals.png": partial(plot_residuals, actual, predicted, target=target, split=name),
    }


def _calibration_jobs(run_dir: RunDirectory,
                      config: dict) -> dict[str, Callable[[Path], Path]]:
    """Reliability curve, PIT histogram and variance-vs-site plots of a probabilistic run.

    Calibration is judged on single measurements (per-site runs keep them in
    measurement_predictions.csv); the variance plot compares with the sites' own variances.
    """
    if config.get("task", {}).get("type") != "probabilistic_regression":
        return {}
    measured = "measurement_predictions.csv"
    split, rows = _held_out_rows(run_dir, measured if run_dir.exists(measured)
                                 else "predictions.csv")
    if not rows:
        return {}
    y, mean, variance = ([float(row[key]) for row in rows]
                         for key in ("actual", "predicted", "predicted_variance"))
    name = SPLIT_NAMES[split]
    jobs = {"calibration.png": partial(plot_reliability, y, mean, variance, split=name),
            "pit_histogram.png": partial(plot_pit_histogram, y, mean, variance, split=name)}
    split, sites = _held_out_rows(run_dir, "predictions.csv")
    if sites and "actual_variance" in sites[0]:
        jobs["variance_vs_site.png"] = partial(
            plot_variance_vs_site, [float(row["predicted_variance"]) for row in sites],
            [float(row["actual_variance"]) for row in sites],
            target=config.get("data", {}).get("target", "target"))
    return jobs


def _held_out_rows(run_dir: RunDirectory, name: str) -> tuple[str | None, list[dict]]:
    """The rows of the first held-out split present (test, else validation) in a CSV."""
    rows = _read_csv(run_dir, name) or []
    for split in PREDICTION_SPLITS:
        chosen = [row for row in rows if row["split"] == split]
        if chosen:
            return split, chosen
    return None, []


def _axis_labels(config: dict) -> dict[str, str]:
    """Y axis labels with units for the history's keys."""
    target = config.get("data", {}).get("target", "target")
    task = config.get("task", {})
    loss = task.get("loss", "")
    # A regression target is standardised by default, and the loss is computed on that scale.
    scaled = (task.get("type") in ("regression", "probabilistic_regression")
              and config.get("data", {}).get("scale_target", True))
    return {
        "loss": f"{loss} loss" + (f" (standardised {target})" if scaled else ""),
        "mae": f"MAE ({target})",
        "accuracy": "accuracy (share correct)",
        "dead_units": "dead ReLU units (share)",
    }


def _read_json(run_dir: RunDirectory, name: str, default):
    path = run_dir.file(name)
    return json.loads(path.read_text()) if path.is_file() else default


def _read_yaml(run_dir: RunDirectory, name: str) -> dict:
    path = run_dir.file(name)
    return (load_yaml(path.read_text()) or {}) if path.is_file() else {}


def _read_csv(run_dir: RunDirectory, name: str) -> list[dict] | None:
    path = run_dir.file(name)
    if not path.is_file():
        return None
    with path.open(newline="") as handle:
        rows = csv.reader(handle)  # not DictReader: batch_history.csv has a row per step
        header = next(rows, [])
        return [dict(zip(header, row)) for row in rows if row]
