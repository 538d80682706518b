"""Still improving at the end, stuck on a plateau, or a loss that suddenly climbs back up."""

from __future__ import annotations

import numpy as np

from trainwise.diagnostics.context import DiagnosisContext
from trainwise.diagnostics.finding import Finding
from trainwise.diagnostics.signals import epoch_of, has, relative_drop, series, smooth, tail_length
from trainwise.diagnostics.thresholds import Thresholds


def not_converged(history: list[dict], context: DiagnosisContext,
                  limits: Thresholds) -> list[Finding]:
    key = context.monitor if has(history, context.monitor) else "loss"
    values = smooth(series(history, key), limits.smoothing_epochs)
    n = len(values)
    if n < limits.min_epochs or context.stopped_early or not np.isfinite(values).all():
        return []
    tail = tail_length(n, limits)
    improvement = relative_drop(values[-tail - 1] if tail < n else values[0], values[-1])
    # The smoothed tail can hide a short run's last epochs (a jump, then a new best): the
    # best epoch at the very end, reached by a real step down, says "not done" too.
    raw = series(history, key)
    best = int(np.nanargmin(raw))
    near_end = (best >= n - max(1, int(round(limits.near_end_share * n)))
                and relative_drop(raw[-tail - 1] if tail < n else raw[0], raw[best])
                > limits.still_improving)
    if improvement <= limits.still_improving and not near_end:
        return []
    why = (f"Over the last {tail} epochs {key} improved by {improvement:.1%}"
           if improvement > limits.still_improving else
           f"Its best {key} came at epoch {epoch_of(best)} of {n}")
    return [Finding(
        "not_converged", "warning", f"Not converged: {key} was still improving at the end",
        f"{why}, and the run ended because it reached train.epochs, not because it stopped "
        "improving. More training would likely give a better model.",
        [epoch_of(n - tail), epoch_of(n - 1)], {"key": key, "tail_epochs": tail,
                                                "tail_improvement": float(improvement),
                                                "best_epoch": epoch_of(best)},
        [f"train.epochs: {2 * n} (now {n})", "or raise train.lr to get there sooner",
         "keep train.early_stopping on so extra epochs cost nothing once it stops improving"],
    )]


def plateau(history: list[dict], context: DiagnosisContext,
            limits: Thresholds) -> list[Finding]:
    loss = smooth(series(history, "loss"), limits.smoothing_epochs)
    n, width = len(loss), limits.plateau_epochs
    if n < 2 * width or not np.isfinite(loss).all():
        return []
    # Flatness and the drop after it are shares of the curve's whole progress, so noise on
    # a curve that has nearly finished does not look like a plateau.
    progress = max(loss[0] - loss.min(), 1e-12)
    for start in range(n - 2 * width + 1):
        window = loss[start:start + width]
        flat = window.max() - window.min() < limits.plateau_change * progress
        after = loss[start + width:start + 2 * width]
        escape = (window[-1] - after.min()) / progress
        if flat and escape >= limits.plateau_escape_drop:
            end = start + width
            while start > 0 and np.ptp(loss[start - 1:end]) < limits.plateau_change * progress:
                start -= 1  # back to where the flat stretch began
            return [Finding(
                "plateau", "info",
                f"Plateau from epoch {epoch_of(start)} to {epoch_of(end - 1)}",
                f"The training loss stayed flat for {end - start} epochs, then fell again "
                f"(by {escape:.0%} of the whole run's progress within {width} epochs). Flat "
                "stretches like this are often saddle points: a larger or warmed-up learning "
                "rate, or a schedule, usually shortens them.",
                [epoch_of(start), epoch_of(end - 1)],
                {"flat_epochs": end - start, "escape_share_of_progress": float(escape)},
                ["train.scheduler.name: cosine, or a warm-up",
                 "model.batch_norm: true", "train.optimizer: adam if it is sgd"],
            )]
    return []


def sudden_increase(history: list[dict], context: DiagnosisContext,
                    limits: Thresholds) -> list[Finding]:
    loss = series(history, "loss")
    n, quick = len(loss), limits.sudden_rise_epochs
    if n < limits.min_epochs or not np.isfinite(loss).all():
        return []
    running_min = np.minimum.accumulate(loss)
    # Rises are measured against the progress the curve made, so a loss wiggling near zero
    # at the end of a long run is not mistaken for a jump.
    threshold = limits.sudden_rise * max(loss[0] - loss.min(), 1e-12)
    for t in range(2, n - quick + 1):
        best_before = running_min[t - 1]
        rose_fast = loss[t] - best_before > threshold and (
            loss[max(0, t - quick)] - best_before <= threshold / 2)
        stays_up = np.all(loss[t:] - best_before > threshold / 2)
        if rose_fast and stays_up:
            return [Finding(
                "sudden_increase", "warning",
                f"The loss fell, then suddenly rose at epoch {epoch_of(t)} and stayed up",
                f"The training loss reached {best_before:.3g}, jumped to {loss[t]:.3g} within "
                f"{quick} epochs and never came back. Training became unstable: typically the "
                "learning rate is too high for the sharper region the model reached, or a bad "
                "batch pushed the weights away.",
                [epoch_of(t), epoch_of(n - 1)],
                {"best_before": float(best_before), "after": float(loss[t])},
                ["train.scheduler.name: cosine or step, so the rate shrinks as training goes on",
                 "train.grad_clip: 1.0", "lower train.lr by 3x"],
            )]
    return []
