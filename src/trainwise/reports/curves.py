"""Training curves as PNG files: the loss, and each metric beside its validation twin."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402

# Use a log axis when a curve's values span more than this factor.
LOG_SCALE_SPAN = 50.0


def plot_history(history: list[dict], folder: str | Path, best_epoch: int | None = None,
                 units: dict[str, str] | None = None) -> list[Path]:
    """Write ``loss.png`` and one PNG per metric to ``folder``; return their paths.

    Args:
        history: the run's per-epoch records.
        folder: where the PNGs go.
        best_epoch: marked with a dashed line when given.
        units: axis labels per key, e.g. ``{"mae": "MAE (mpg)"}``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not history:
        return []
    skip = {"epoch", "lr", "epoch_time_s"}
    keys = [key for key in history[0] if key not in skip and not key.startswith("val_")]
    written = []
    for key in keys:
        path = folder / f"{key}.png"
        _plot_pair(history, key, path, best_epoch, (units or {}).get(key, key))
        written.append(path)
    return written


def _plot_pair(history: list[dict], key: str, path: Path, best_epoch: int | None,
               label: str) -> None:
    epochs = [record["epoch"] for record in history]
    figure, axis = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    values = []
    for name, style in ((key, "-"), (f"val_{key}", "--")):
        series = [record.get(name) for record in history]
        if all(value is None for value in series):
            continue
        axis.plot(epochs, series, style, label="training" if name == key else "validation")
        values += [value for value in series if value is not None]
    positive = [value for value in values if value > 0]
    if positive and len(positive) == len(values) and max(positive) / min(positive) > LOG_SCALE_SPAN:
        axis.set_yscale("log")
    if best_epoch:
        axis.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch ({best_epoch})")
    axis.set_xlabel("epoch")
    axis.set_ylabel(label)
    axis.set_title(f"{label} per epoch")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
