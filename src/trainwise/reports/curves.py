"""Training curves as PNG files: the loss, and each metric beside its validation twin."""

from __future__ import annotations

from pathlib import Path

from trainwise.reports.figure import (  # noqa: F401  (LOG_SCALE_SPAN: kept importable here)
    LOG_SCALE_SPAN,
    log_scale_if_wide,
    mark_best_epoch,
    new_figure,
    save_figure,
)

# History keys that are not a training curve with a validation twin: the learning rate and
# gradient norm get plots of their own (optimizer_curves.py), the rest is bookkeeping.
NOT_CURVES = frozenset({"epoch", "lr", "epoch_time_s", "grad_norm"})


def curve_keys(history: list[dict]) -> list[str]:
    """The keys that get a curve plot, in the history's order (``loss`` first).

    Keys are collected over every record: some (``dead_units``) may be missing in a few.
    """
    keys = dict.fromkeys(key for record in history for key in record)
    return [key for key in keys if key not in NOT_CURVES and not key.startswith("val_")]


def plot_history(history: list[dict], folder: str | Path, best_epoch: int | None = None,
                 units: dict[str, str] | None = None) -> list[Path]:
    """Write ``loss.png`` and one PNG per metric to ``folder``; return their paths.

    Args:
        history: the run's per-epoch records.
        folder: where the PNGs go.
        best_epoch: marked with a dotted line when given.
        units: axis labels per key, e.g. ``{"mae": "MAE (mpg)"}``.

    Returns:
        The paths written, one per key of ``curve_keys``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [plot_curve(history, key, folder / f"{key}.png", best_epoch,
                       (units or {}).get(key, key))
            for key in curve_keys(history)]


def plot_curve(history: list[dict], key: str, path: str | Path, best_epoch: int | None,
               label: str) -> Path:
    """One key per epoch, training solid and validation dashed, as a PNG.

    Args:
        history: the run's per-epoch records.
        key: the training key, e.g. ``"loss"``; ``"val_<key>"`` is drawn beside it if present.
        path: the PNG to write.
        best_epoch: marked with a dotted line when given.
        label: the y axis label, with its unit.

    Returns:
        ``path``.
    """
    epochs = [record["epoch"] for record in history]
    figure, axis = new_figure()
    values = []
    for name, style in ((key, "-"), (f"val_{key}", "--")):
        series = [record.get(name) for record in history]
        if all(value is None for value in series):
            continue
        # None would break the line plot; NaN leaves a gap where the value is missing.
        series = [float("nan") if value is None else value for value in series]
        axis.plot(epochs, series, style, label="training" if name == key else "validation")
        values += series
    log_scale = log_scale_if_wide(axis, values)
    mark_best_epoch(axis, best_epoch, best_epoch)
    axis.set_xlabel("epoch")
    axis.set_ylabel(f"{label} (log scale)" if log_scale else label)
    axis.set_title(f"{label} per epoch")
    axis.grid(alpha=0.3)
    axis.legend()
    return save_figure(figure, path)
