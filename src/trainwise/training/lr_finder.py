"""The learning-rate range test (Smith 2017): ramp the rate up, watch the loss, pick a rate.

The test trains for a bounded number of steps while the learning rate grows exponentially
from ``start_lr`` to ``end_lr``, smooths the loss, stops once it diverges, and then puts the
model, optimizer and random state back exactly as they were. The suggestions are computed by
``suggest_learning_rates`` from the recorded curve alone.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from trainwise.training.trainer import Trainer

SUGGESTIONS = ("valley", "steepest", "min_over_10")
# Stop when the smoothed loss exceeds this multiple of the best smoothed loss so far.
DIVERGE_FACTOR = 4.0
# Exponential smoothing of the per-step loss (fastai's default), with bias correction.
SMOOTHING = 0.98
# The fewest usable points before the curve is read at all.
EDGE_POINTS = 3
# The descent starts where the loss has fallen this share of the way to its minimum.
DESCENT_ONSET = 0.1
# The slope at each point comes from a straight-line fit over this many decades of rate.
SLOPE_WINDOW_DECADES = 0.5
# Below this relative drop from the first to the lowest smoothed loss there is no descent.
MIN_DESCENT = 0.10


@dataclass
class LRFinderResult:
    """The recorded curve, the suggestions, and the one chosen (plain data, saved as JSON)."""

    lrs: list[float]
    losses: list[float]  # raw per-step losses (may contain NaN/inf where training blew up)
    smoothed: list[float]
    suggestions: dict[str, float | None] = field(default_factory=dict)
    chosen: float | None = None
    rule: str = "valley"  # which suggestion was chosen
    reason: str = ""  # why, in words
    stopped_early: bool = False  # the loss diverged before end_lr

    def to_dict(self) -> dict:
        return asdict(self)


def lr_range_test(trainer: Trainer, start_lr: float = 1e-7, end_lr: float = 10.0,
                  steps: int = 100, rule: str = "valley") -> LRFinderResult:
    """Run the range test on ``trainer``'s model and data, then restore everything.

    Args:
        trainer: a built Trainer; its model, optimizer, state and RNG are restored afterwards.
        start_lr, end_lr: the range, ramped exponentially over ``steps`` optimizer steps.
        steps: the most steps to take (fewer if the loss diverges first).
        rule: which suggestion to choose: "valley", "steepest" or "min_over_10".

    Returns:
        The curve, the suggestions and the chosen rate with the reason.
    """
    saved = copy.deepcopy(trainer.checkpoint_state())
    # Only the groups at the base rate ramp; groups given their own train.param_groups rate
    # keep it, as they will in training.
    base = trainer.optimizer.param_groups[0]["lr"]
    ramped = [group for group in trainer.optimizer.param_groups if group["lr"] == base]
    lrs, losses, smoothed = [], [], []
    average, stopped_early = 0.0, False
    try:
        batches = _endless(trainer)
        for step in range(steps):
            lr = start_lr * (end_lr / start_lr) ** (step / max(steps - 1, 1))
            for group in ramped:
                group["lr"] = lr
            loss, _ = trainer.training_step(*next(batches))
            value = loss.item()  # the test must see each step's loss to know when to stop
            lrs.append(lr)
            losses.append(value)
            if not math.isfinite(value):
                stopped_early = True
                break
            average = SMOOTHING * average + (1 - SMOOTHING) * value
            smoothed.append(average / (1 - SMOOTHING ** (step + 1)))
            if step > EDGE_POINTS and smoothed[-1] > DIVERGE_FACTOR * min(smoothed):
                stopped_early = True
                break
    finally:
        trainer.load_checkpoint_state(saved)
    smoothed += [math.nan] * (len(losses) - len(smoothed))
    return choose_learning_rate(lrs, losses, smoothed, rule, stopped_early)


def choose_learning_rate(lrs: list[float], losses: list[float], smoothed: list[float],
                         rule: str = "valley", stopped_early: bool = False) -> LRFinderResult:
    """Suggestions from a recorded curve, the chosen one, and why."""
    suggestions, problem = suggest_learning_rates(lrs, smoothed)
    result = LRFinderResult(lrs, losses, smoothed, suggestions, rule=rule,
                            stopped_early=stopped_early)
    if problem:
        result.reason = problem
        return result
    result.chosen = suggestions[rule]
    result.reason = {
        "valley": "the middle of the longest stretch where the loss keeps falling "
                  "(fastai's 'valley')",
        "steepest": "where the smoothed loss falls fastest per decade of learning rate",
        "min_over_10": "a tenth of the rate at the lowest loss (one decade before it diverges)",
    }[rule] + f": {result.chosen:.3g}"
    return result


def suggest_learning_rates(lrs: list[float], smoothed: list[float]) -> tuple[dict, str | None]:
    """``({"valley", "steepest", "min_over_10"}, problem)`` from the smoothed curve.

    Non-finite points are ignored. ``problem`` says, in words, why no rate can be trusted
    (too few points, or no clear descent); the suggestions are then None.
    """
    points = [(lr, loss) for lr, loss in zip(lrs, smoothed) if math.isfinite(loss)]
    empty = dict.fromkeys(SUGGESTIONS)
    if len(points) < 2 * EDGE_POINTS + 3:
        return empty, (f"only {len(points)} usable points: the loss diverged almost at once; "
                       "lower the range test's start_lr")
    log_lr = np.log10([lr for lr, _ in points])
    loss = np.array([value for _, value in points])
    lowest = int(np.argmin(loss))
    # The first smoothed points are averages of very few batches; take their median as the start.
    start = float(np.median(loss[:max(EDGE_POINTS, len(loss) // 10)]))
    descent = (start - loss[lowest]) / abs(start) if start else 0.0
    if descent < MIN_DESCENT:
        return empty, (f"no clear descent: the smoothed loss fell by only {descent:.1%} over the "
                       "range, so any suggestion would be noise; widen the range, take more "
                       "steps, or set train.lr yourself")
    # Read the slope only where the loss is falling: from the last point still near the
    # starting level down to the minimum. The flat stretch at tiny rates is pure noise.
    near_start = loss[:lowest + 1] >= start - DESCENT_ONSET * (start - loss[lowest])
    onset = int(np.flatnonzero(near_start)[-1])
    slope = _windowed_slope(log_lr, loss)
    steepest = onset + int(np.nanargmin(slope[onset:lowest + 1]))
    start, end = _longest_descent(loss)
    valley = start + (end - start) * 2 // 3
    return {
        "valley": float(10 ** log_lr[valley]),
        "steepest": float(10 ** log_lr[steepest]),
        "min_over_10": float(10 ** log_lr[lowest] / 10),
    }, None


def _windowed_slope(log_lr: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """d(loss)/d(log10 lr) from a straight-line fit over about half a decade around each point.

    A point-to-point difference reads the noise of single batches as steep descents.
    """
    slope = np.full(len(loss), np.nan)
    for i in range(len(loss)):
        near = np.abs(log_lr - log_lr[i]) <= SLOPE_WINDOW_DECADES / 2
        if near.sum() >= 3:
            slope[i] = np.polyfit(log_lr[near], loss[near], 1)[0]
    return slope


def _longest_descent(loss: np.ndarray) -> tuple[int, int]:
    """Start and end of the longest (not necessarily contiguous) falling run, by dynamic
    programming: ``length[i]`` is the longest falling sequence ending at point ``i``."""
    n = len(loss)
    length, previous = [1] * n, list(range(n))
    for i in range(n):
        for j in range(i):
            if loss[j] > loss[i] and length[j] + 1 > length[i]:
                length[i], previous[i] = length[j] + 1, j
    end = int(np.argmax(length))
    start = end
    while previous[start] != start:
        start = previous[start]
    return start, end


def _endless(trainer: Trainer):
    """Training batches epoch after epoch, for as many steps as the test wants."""
    for epoch in itertools.count():
        yield from trainer.batches.epoch(epoch)
