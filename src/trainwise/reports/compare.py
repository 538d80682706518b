"""Several runs side by side: the settings that differ, their results, and overlaid curves.

Everything here reads run directories only (config.yaml, history.json, metrics.json,
status.json), so comparing never needs torch or the training code.

Example:
    >>> runs = [resolve_run(ref) for ref in ("20261121-0901", "last")]    # doctest: +SKIP
    >>> differing_settings(run_configs(runs))                             # doctest: +SKIP
    {'train.lr': {'20261121-090117-auto_mpg': 0.01, '20261121-090133-auto_mpg': 0.001}}
    >>> plot_comparison(labelled_histories(runs), "runs/compare.png")     # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from matplotlib.lines import Line2D

from trainwise.reports.figure import DPI, log_scale_if_wide, plt, save_figure
from trainwise.tracking.run_dir import RunDirectory
from trainwise.yaml_io import load_yaml

# A display name, not a setting: a sweep names its configs after what differs, so it would
# only repeat that.
IGNORED_SETTINGS = ("name",)
# Legend labels list the differing settings up to this many; beyond it the run id is shorter.
MAX_LABEL_SETTINGS = 3
# Legend entries per row below the plots (runs, then "training" and "validation").
LEGEND_COLUMNS = 6
# The test metrics worth a column, per task; the rest stay in each run's metrics.json.
TEST_METRICS = {"regression": ("mae", "rmse", "r2"), "classification": ("accuracy", "macro_f1"),
                "probabilistic_regression": ("rmse", "nll", "crps", "coverage_90")}


def run_configs(runs: list[RunDirectory]) -> dict[str, dict]:
    """Each run's resolved config, as the plain dict in its config.yaml.

    Args:
        runs: the run directories.

    Returns:
        ``{run_id: config}``.
    """
    return {run.run_id: load_yaml(run.file("config.yaml").read_text()) or {} for run in runs}


def differing_settings(configs: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """The settings whose values are not the same in every config, by dotted key.

    Nested sections become dotted keys (``train.early_stopping.patience``); a list is one
    value. A key a config lacks is left out of that key's inner dict, so "not set" stays
    distinct from ``null``. The top-level ``name`` is ignored.

    Args:
        configs: ``{run_id: nested config dict}``.

    Returns:
        ``{dotted_key: {run_id: value}}``, keys in the order the configs list them.

    Example:
        >>> differing_settings({"a": {"train": {"lr": 0.1, "epochs": 5}},
        ...                     "b": {"train": {"lr": 0.01, "epochs": 5}}})
        {'train.lr': {'a': 0.1, 'b': 0.01}}
    """
    flat = {run_id: _flatten(config) for run_id, config in configs.items()}
    keys = dict.fromkeys(key for settings in flat.values() for key in settings)
    differing = {}
    for key in keys:
        if key in IGNORED_SETTINGS:
            continue
        values = {run_id: settings[key] for run_id, settings in flat.items() if key in settings}
        present = list(values.values())
        if len(values) < len(flat) or any(value != present[0] for value in present[1:]):
            differing[key] = values
    return differing


def format_value(value: Any) -> str:
    """A setting's value as an override would spell it: ``0.001``, ``[64, 64]``, ``null``.

    Example:
        >>> format_value([64, 64]), format_value(None), format_value("adam")
        ('[64, 64]', 'null', 'adam')
    """
    return value if isinstance(value, str) else json.dumps(value)


def run_labels(settings: dict[str, dict[str, Any]], run_ids: list[str]) -> dict[str, str]:
    """A short name per run for legends: its differing settings, else its id.

    Args:
        settings: what ``differing_settings`` returned.
        run_ids: the runs, in display order.

    Returns:
        ``{run_id: label}``; labels are unique (a run id is appended to break a tie).

    Example:
        >>> run_labels({"train.lr": {"a": 0.1, "b": 0.01}}, ["a", "b"])
        {'a': 'train.lr=0.1', 'b': 'train.lr=0.01'}
    """
    if not settings or len(settings) > MAX_LABEL_SETTINGS:
        return {run_id: run_id for run_id in run_ids}
    labels = {run_id: ", ".join(f"{key}={format_value(values[run_id])}"
                                for key, values in settings.items() if run_id in values) or run_id
              for run_id in run_ids}
    # Two runs of one config among others that differ share a label; the id tells them apart.
    taken = list(labels.values())
    return {run_id: label if taken.count(label) == 1 else f"{label} ({run_id})"
            for run_id, label in labels.items()}


def comparison_table(runs: list[RunDirectory]) -> list[dict]:
    """One row per run: its differing settings, then how it trained and what it scored.

    Args:
        runs: the run directories, in display order.

    Returns:
        Rows with ``run``, ``task``, each differing setting under its dotted key (absent
        when that run lacks it), ``status``, ``epochs``, ``best_epoch``, ``monitor``,
        ``best_value``, ``final_val_loss``, ``test_<metric>`` for the task's headline test
        metrics (see ``TEST_METRICS``) and ``duration_s``. Values a run does not have (an
        interrupted run has no metrics) are None.

    Example:
        >>> comparison_table([resolve_run("last")])[0]["test_mae"]        # doctest: +SKIP
        1.994
    """
    configs = run_configs(runs)
    settings = differing_settings(configs)
    rows = []
    for run in runs:
        config = configs[run.run_id]
        task = (config.get("task") or {}).get("type", "regression")
        status = _read_optional(run, "status.json", {})
        history = _read_optional(run, "history.json", [])
        test = _read_optional(run, "metrics.json", {}).get("test", {})
        row = {"run": run.run_id, "task": task}
        row.update({key: values[run.run_id] for key, values in settings.items()
                    if run.run_id in values})
        row.update({
            "status": status.get("status"),
            "epochs": status.get("epochs"),
            "best_epoch": status.get("best_epoch"),
            "monitor": status.get("monitor"),
            "best_value": status.get("best_value"),
            "final_val_loss": history[-1].get("val_loss") if history else None,
        })
        row.update({f"test_{name}": test.get(name) for name in TEST_METRICS.get(task, ())})
        row["duration_s"] = status.get("duration_s")
        rows.append(row)
    return rows


def labelled_histories(runs: list[RunDirectory]) -> dict[str, list[dict]]:
    """Each run's per-epoch history under its legend label (see ``run_labels``).

    Example:
        >>> plot_comparison(labelled_histories(runs), "compare.png")     # doctest: +SKIP
    """
    labels = run_labels(differing_settings(run_configs(runs)), [run.run_id for run in runs])
    return {labels[run.run_id]: _read_optional(run, "history.json", []) for run in runs}


def plot_comparison(histories: dict[str, list[dict]], path: str | Path) -> Path:
    """Overlay every run's curves in one PNG: loss beside the headline metric.

    Each run keeps one colour; training is solid, validation dashed. The metric is ``mae``
    for regression and ``accuracy`` for classification. An axis turns logarithmic when its
    values span more than ``figure.LOG_SCALE_SPAN`` (a diverging run would flatten the others).
    The file is written atomically.

    Args:
        histories: ``{label: per-epoch records}``; the labels name the runs in the legend.
        path: the PNG to write (its folder is created).

    Returns:
        The path written.

    Example:
        >>> plot_comparison({"lr=0.1": run_a.history, "lr=0.01": run_b.history},
        ...                 "compare.png")                                 # doctest: +SKIP
    """
    path = Path(path)
    figure, (loss_axis, metric_axis) = plt.subplots(1, 2, figsize=(12.0, 4.8), dpi=DPI,
                                                    layout="constrained")
    colours = _colours(len(histories))
    metrics = []
    for colour, (label, history) in zip(colours, histories.items()):
        metric = _headline_metric(history)
        metrics.append(metric)
        _plot_pair(loss_axis, history, "loss", colour, label)
        if metric:
            _plot_pair(metric_axis, history, metric, colour, label)
    metric_names = list(dict.fromkeys(_metric_title(metric) for metric in metrics if metric))
    _style_axis(loss_axis, "loss")
    _style_axis(metric_axis, " / ".join(metric_names) or "metric")
    handles = _legend_handles(loss_axis)
    figure.legend(handles=handles, loc="outside lower center",
                  ncols=min(len(handles), LEGEND_COLUMNS), frameon=False)
    return save_figure(figure, path)


def _flatten(config: dict, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 0.1}}`` -> ``{"train.lr": 0.1}``; an empty section adds nothing."""
    flat = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _read_optional(run: RunDirectory, name: str, default):
    """A JSON file the run may not have yet (a running or interrupted run lacks metrics)."""
    return run.read_json(name) if run.exists(name) else default


def _headline_metric(history: list[dict]) -> str | None:
    for metric in ("mae", "accuracy"):
        if any(metric in record for record in history):
            return metric
    return None


def _metric_title(metric: str) -> str:
    return "MAE" if metric == "mae" else metric


def _plot_pair(axis, history: list[dict], key: str, colour, label: str) -> None:
    """``key`` solid and ``val_<key>`` dashed, in the run's colour."""
    epochs = [record["epoch"] for record in history]
    for name, style in ((key, "-"), (f"val_{key}", "--")):
        series = [_finite(record.get(name)) for record in history]
        if all(math.isnan(value) for value in series):
            continue
        # Only the solid line names the run, so the legend has one entry per run.
        axis.plot(epochs, series, style, color=colour,
                  label=label if name == key else "_nolegend_")


def _finite(value) -> float:
    """NaN (a gap in the line) for missing, NaN or infinite values."""
    return value if isinstance(value, (int, float)) and math.isfinite(value) else math.nan


def _style_axis(axis, label: str) -> None:
    log_scale_if_wide(axis, [value for line in axis.get_lines() for value in line.get_ydata()])
    axis.set_xlabel("epoch")
    axis.set_ylabel(label)
    axis.set_title(f"{label} per epoch")
    axis.grid(alpha=0.3)


def _legend_handles(axis) -> list:
    """One entry per run (its colour), then what solid and dashed mean."""
    runs = [line for line in axis.get_lines() if not line.get_label().startswith("_")]
    styles = [Line2D([], [], color="grey", linestyle="-", label="training"),
              Line2D([], [], color="grey", linestyle="--", label="validation")]
    return runs + styles


def _colours(count: int) -> list:
    """Distinct colours: the default ten, or evenly spread over a colour map beyond that."""
    if count <= 10:
        return [f"C{index}" for index in range(count)]
    colour_map = plt.get_cmap("viridis")
    return [colour_map(index / (count - 1)) for index in range(count)]
