"""Under-fitting and over-fitting: where the model sits between too simple and memorising."""

from __future__ import annotations

import numpy as np

from trainwise.diagnostics.context import DiagnosisContext
from trainwise.diagnostics.finding import Finding
from trainwise.diagnostics.signals import epoch_of, has, relative_drop, series, smooth, tail_length
from trainwise.diagnostics.thresholds import Thresholds


def underfitting(history: list[dict], context: DiagnosisContext,
                 limits: Thresholds) -> list[Finding]:
    loss = smooth(series(history, "loss"), limits.smoothing_epochs)
    n = len(loss)
    linear, constant = context.baseline("linear"), context.baseline("constant")
    if n < limits.min_epochs or not np.isfinite(loss).all() or (linear is None and constant is None):
        return []
    tail = tail_length(n, limits)
    flat = relative_drop(loss[-tail - 1] if tail < n else loss[0], loss[-1]) < limits.flat_change
    final = float(loss[-1])
    vs_linear = final / linear if linear else None
    vs_constant = final / constant if constant else None
    high = (vs_linear is not None and vs_linear >= limits.underfit_vs_linear) or (
        vs_constant is not None and vs_constant >= limits.underfit_vs_constant)
    val = series(history, "val_loss")
    # Close: validation not far above training. Below it counts as close too: a model too
    # simple to memorise anything often scores its (easier, end-of-epoch) validation lower.
    close = not has(history, "val_loss") or val[-1] - loss[-1] <= limits.close_gap * max(
        abs(loss[-1]), 1e-12)
    # A bottleneck of a unit or two cannot represent more than a line, however long it
    # trains: its capacity, not the flatness of its curve, decides.
    tiny = bool(context.hidden) and min(context.hidden) <= limits.tiny_layer
    if not ((flat or tiny) and high and close):
        return []
    comparisons = []
    if vs_linear is not None:
        comparisons.append(f"{vs_linear:.2f}x the loss of a plain linear model ({linear:.3g})")
    if vs_constant is not None:
        comparisons.append(f"{vs_constant:.2f}x that of always predicting the "
                           f"{'mean' if context.task == 'regression' else 'class frequencies'} "
                           f"({constant:.3g})")
    return [Finding(
        "underfitting", "warning", "Under-fitting: the model is too simple for the data",
        f"The training loss settled at {final:.3g}, " + " and ".join(comparisons) + ". Both "
        "curves are flat and close together: the network cannot represent more than a simple "
        "model does, so more epochs will not help.",
        [1, n], {"final_train_loss": final, "vs_linear": vs_linear, "vs_constant": vs_constant},
        [_wider(context), "model.dropout: 0 and model.l1/l2: 0 if set",
         "train.lr: higher, if the curve is still sloping"],
    )]


def held_by_penalty(history: list[dict], context: DiagnosisContext,
                    limits: Thresholds) -> list[Finding]:
    """A weight penalty so strong that the model ends where always predicting the mean (or the
    class frequencies) does: under-fitting, and the penalty, not the learning rate, is why."""
    loss = series(history, "loss")
    constant = context.baseline("constant")
    penalties = {name: value for name, value in (("l1", context.l1), ("l2", context.l2)) if value}
    if (not penalties or constant is None or len(loss) < limits.min_epochs
            or not np.isfinite(loss).all()
            or np.median(loss[-5:]) < limits.not_learning_vs_constant * constant):
        return []
    named = ", ".join(f"model.{name}: {value:g}" for name, value in penalties.items())
    return [Finding(
        "underfitting", "warning", "Under-fitting: the weight penalty holds the model down",
        f"The training loss ended at {loss[-1]:.3g}, about what always predicting the "
        f"{'mean' if context.task == 'regression' else 'class frequencies'} scores "
        f"({constant:.3g}). With {named} (a sum over every weight), the penalty outweighs "
        "what fitting the data gains, so the weights stay near zero.",
        [1, len(loss)], {"final_train_loss": float(loss[-1]), "constant_loss": constant,
                         "cause": "penalty", **penalties},
        [f"model.{name}: {value / 100:.2g} (now {value:g})" for name, value in penalties.items()],
    )]


def versus_linear(history: list[dict], context: DiagnosisContext,
                  limits: Thresholds) -> list[Finding]:
    """A network that does not clearly beat a linear model on held-out rows is no good fit,
    whatever its curves look like; say what a linear model scores, and the likely cause."""
    if not has(history, "val_loss"):
        return []
    linear = context.baseline("linear", "val")
    val = series(history, "val_loss")
    if not linear or not np.isfinite(val).any():
        return []
    best = float(np.nanmin(val))
    ratio = best / linear
    if ratio < limits.good_fit_vs_linear:
        return []
    worse = ratio >= 1.0
    cause, advice, named = _likely_cause(history, context, limits)
    return [Finding(
        "worse_than_linear" if worse else "no_better_than_linear",
        "warning" if worse else "info",
        "Worse than a linear model" if worse else "No better than a linear model",
        f"The best validation loss, {best:.3g}, is {ratio:.2f}x a plain linear model's "
        f"({linear:.3g}) on the same rows. " + (
            "The network has learnt less than a straight line does. " if worse else
            "The network adds nothing a straight line does not give. ") + cause,
        [], {"best_val_loss": best, "linear_val_loss": float(linear), "vs_linear": ratio,
             "cause": named},
        advice,
    )]


def _likely_cause(history: list[dict], context: DiagnosisContext,
                  limits: Thresholds) -> tuple[str, list[str], str | None]:
    """The cause in words, the advice, and the cause's name when the curves show it: dead
    ReLU units point at the learning rate; otherwise the capacity, the rate or the data."""
    dead = float(series(history, "dead_units")[-1]) if has(history, "dead_units") else 0.0
    rate = f" (now {context.lr:g})" if isinstance(context.lr, (int, float)) else ""
    if dead >= limits.dead_units_share:
        return (f"{dead:.0%} of its ReLU units are dead, which a learning rate too high for "
                "this model usually causes: the first large steps push units to where they "
                "never fire again.",
                [f"train.lr: 10x lower{rate}, or `trainwise lr-find`",
                 "model.activation: leaky_relu", "train.grad_clip: 1.0"], "learning_rate")
    return ("When the curves look healthy, the usual causes are a learning rate that is too "
            "high or too low, too little capacity, or data a linear model already explains.",
            [f"train.lr: try 3x higher and 3x lower{rate}, or `trainwise lr-find`",
             _wider(context), "compare with a linear model (the baselines in baselines.json)"],
            None)


def overfitting(history: list[dict], context: DiagnosisContext,
                limits: Thresholds) -> list[Finding]:
    if not has(history, "val_loss"):
        return []
    val = smooth(series(history, "val_loss"), limits.smoothing_epochs)
    loss = smooth(series(history, "loss"), limits.smoothing_epochs)
    n = len(val)
    if n < limits.min_epochs or not (np.isfinite(val).all() and np.isfinite(loss).all()):
        return []
    best = int(np.argmin(val))
    val_rise = -relative_drop(val[best], val[-1])
    train_drop = relative_drop(loss[best], loss[-1])
    if val_rise < limits.overfit_val_rise or train_drop < limits.overfit_train_drop:
        return []
    raw_val = series(history, "val_loss")
    gap_then, gap_now = float(val[best] - loss[best]), float(val[-1] - loss[-1])
    would_stop = _would_stop(raw_val, limits.would_stop_patience)
    stopping = (f"early stopping restored epoch {epoch_of(int(np.nanargmin(raw_val)))}'s weights"
                if context.early_stopping else
                f"early stopping (patience {limits.would_stop_patience}) would have stopped at "
                f"epoch {would_stop}")
    return [Finding(
        "overfitting", "warning" if not context.early_stopping else "info",
        f"Over-fitting from epoch {epoch_of(best)}",
        f"The validation loss reached its minimum ({val[best]:.3g}) at epoch {epoch_of(best)} "
        f"and then rose by {val_rise:.0%} while the training loss kept falling by another "
        f"{train_drop:.0%}. The gap between them grew from {gap_then:.3g} to {gap_now:.3g}: the "
        f"model is memorising the training rows. {stopping[0].upper() + stopping[1:]}.",
        [epoch_of(best), n],
        {"best_val_epoch": epoch_of(best), "val_rise": float(val_rise),
         "train_drop_after": float(train_drop), "gap_at_best": gap_then, "gap_at_end": gap_now,
         "would_stop_at": would_stop},
        [_more_dropout(context), _more_l2(context), _narrower(context),
         "train.early_stopping.enabled: true" if not context.early_stopping else
         "more training rows, if you can get them"],
    )]


def _would_stop(val: np.ndarray, patience: int) -> int:
    best, wait = np.inf, 0
    for index, value in enumerate(val):
        if value < best:
            best, wait = value, 0
        else:
            wait += 1
            if wait >= patience:
                return epoch_of(index)
    return epoch_of(len(val) - 1)


def _more_dropout(context: DiagnosisContext) -> str:
    if context.dropout:
        return f"model.dropout: {min(0.5, context.dropout + 0.2):.2g} (now {context.dropout:g})"
    return "model.dropout: 0.1-0.3"


def _more_l2(context: DiagnosisContext) -> str:
    if context.l2:
        return f"model.l2: {context.l2 * 10:.2g} (now {context.l2:g})"
    return "model.l2: 1e-4"


def _wider(context: DiagnosisContext) -> str:
    if context.hidden:
        wider = [max(16, 4 * size) for size in context.hidden]
        return f"model.hidden: {wider} (now {context.hidden})"
    return "a larger model (more or wider layers)"


def _narrower(context: DiagnosisContext) -> str:
    if context.hidden:
        return f"model.hidden: {[max(1, size // 2) for size in context.hidden]} (now {context.hidden})"
    return "a smaller model"
