"""Learning rate too high (spikes, oscillation, divergence, NaN) or too low (slow and straight)."""

from __future__ import annotations

import numpy as np

from trainwise.diagnostics.context import DiagnosisContext
from trainwise.diagnostics.finding import Finding
from trainwise.diagnostics.signals import epoch_of, relative_drop, series
from trainwise.diagnostics.thresholds import Thresholds


def non_finite_loss(history: list[dict], context: DiagnosisContext,
                    limits: Thresholds) -> list[Finding]:
    loss = series(history, "loss")
    bad = np.flatnonzero(~np.isfinite(loss))
    if not len(bad):
        return []
    first = epoch_of(bad[0])
    return [Finding(
        "non_finite_loss", "problem", f"The loss became {loss[bad[0]]} at epoch {first}",
        "Training produced a NaN or infinite loss, so nothing after that epoch means anything. "
        "The usual cause is a learning rate so high that the weights blow up; extreme input "
        "values or a division by zero in a custom loss do the same.",
        [first, epoch_of(len(loss) - 1)], {"first_bad_epoch": first},
        [_lower_lr(context, 10), "train.grad_clip: 1.0",
         "check the inputs for extreme values (data_summary.json)"],
    )]


def lr_too_high(history: list[dict], context: DiagnosisContext,
                limits: Thresholds) -> list[Finding]:
    loss = series(history, "loss")
    if len(loss) < limits.min_epochs or not np.isfinite(loss).all():
        return []
    running_min = np.minimum.accumulate(loss)
    progress = max(loss[0] - loss.min(), 1e-12)
    jumps = loss[1:] - running_min[:-1]  # how far each epoch rose above the best so far
    spike_index = int(np.argmax(jumps)) + 1
    # A spike is large against the progress made and against the loss itself: a curve that
    # never moved (progress ~0) makes any jitter "30 % of the progress".
    spike = (jumps.max() > limits.spike_share * progress
             and jumps.max() > limits.rise_tolerance * abs(running_min[spike_index - 1]))
    rises = np.diff(loss) / np.abs(loss[:-1]) > limits.rise_tolerance
    constant = context.baseline("constant")
    not_learning = constant is not None and np.median(loss[-5:]) >= (
        limits.not_learning_vs_constant * constant)
    oscillating = rises.mean() >= limits.oscillation_rise_share and not_learning
    if not (spike or oscillating):
        return []
    evidence = {"largest_jump": float(jumps.max()), "at_epoch": epoch_of(spike_index),
                "total_progress": float(progress), "rising_epochs_share": float(rises.mean())}
    if constant is not None:
        evidence["constant_baseline_loss"] = constant
        evidence["final_loss"] = float(loss[-1])
    shape = []
    if spike:
        shape.append(f"jumped by {jumps.max():.3g} at epoch {epoch_of(spike_index)} (more than "
                     f"{limits.spike_share:.0%} of all the progress it made)")
    if oscillating:
        shape.append(f"rose in {rises.mean():.0%} of epochs and ended no better than "
                     "predicting the mean or the majority class")
    return [Finding(
        "lr_too_high", "warning", "Learning rate too high: the training loss is unstable",
        "The training loss " + " and ".join(shape) + ". Steps this large overshoot the "
        "minimum instead of settling into it.",
        [epoch_of(spike_index), epoch_of(len(loss) - 1)], evidence,
        [_lower_lr(context, 3), "train.scheduler.name: cosine (or plateau) to shrink steps later",
         "train.grad_clip: 1.0"],
    )]


def lr_too_low(history: list[dict], context: DiagnosisContext,
               limits: Thresholds) -> list[Finding]:
    loss = series(history, "loss")
    n = len(loss)
    if n < 2 * limits.min_epochs or not np.isfinite(loss).all():
        return []
    total_drop = relative_drop(loss[0], loss[-1])
    half = n // 2
    first_half, second_half = loss[0] - loss[half], loss[half] - loss[-1]
    straight = first_half > 0 and second_half / first_half > limits.straight_line_ratio
    reference = context.baseline("linear") or context.baseline("constant")
    far = reference is not None and loss[-1] > limits.far_from_reference * reference
    barely_moved = total_drop < limits.barely_moved
    if not ((straight and far) or (barely_moved and (reference is None or loss[-1] > reference))):
        return []
    if barely_moved:
        what = (f"The training loss barely moved: it fell by {total_drop:.1%} in {n} epochs. "
                "The steps are too small to change the model (or the gradients do not reach "
                "the weights).")
    else:
        what = (f"The training loss falls slowly and almost in a straight line: {first_half:.3g} "
                f"in the first half and still {second_half:.3g} in the second, ending at "
                f"{loss[-1]:.3g}, far above what a simple model reaches ({reference:.3g}). A "
                "healthy curve drops fast and then flattens.")
    return [Finding(
        "lr_too_low", "warning", "Learning rate too low: training is slow and far from done", what,
        [1, n], {"total_drop": float(total_drop), "first_half_drop": float(first_half),
                 "second_half_drop": float(second_half), "final_loss": float(loss[-1]),
                 "reference_loss": reference},
        [_raise_lr(context, 10), "trainwise lr-find CONFIG (when available) to pick one",
         "train.optimizer: adam (adapts its step size)" if context.optimizer == "sgd" else
         "train.epochs: more, if the learning rate must stay"],
    )]


def _lower_lr(context: DiagnosisContext, factor: int) -> str:
    if context.lr:
        return f"train.lr: {context.lr / factor:.2g} (now {context.lr:g})"
    return f"train.lr: {factor}x lower"


def _raise_lr(context: DiagnosisContext, factor: int) -> str:
    if context.lr:
        return f"train.lr: {context.lr * factor:.2g} (now {context.lr:g})"
    return f"train.lr: {factor}x higher"
