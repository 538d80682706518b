"""Turn a history into findings: the detectors, the order they defer to each other, a verdict."""

from __future__ import annotations

import numpy as np

from trainwise.diagnostics import convergence, fit_regime, gradients, learning_rate
from trainwise.diagnostics import predictions, validation_curve
from trainwise.diagnostics.context import DiagnosisContext
from trainwise.diagnostics.finding import SEVERITY_ORDER, Finding
from trainwise.diagnostics.signals import has, series
from trainwise.diagnostics.thresholds import Thresholds

# These say "the model or its training went wrong"; when none of them fires, the fit is good.
FIT_PROBLEMS = {"non_finite_loss", "lr_too_high", "lr_too_low", "underfitting", "overfitting",
                "not_converged", "sudden_increase", "exploding_gradients", "one_class",
                "worse_than_linear", "no_better_than_linear"}


def diagnose(history: list[dict], context: DiagnosisContext | None = None,
             thresholds: Thresholds | None = None) -> list[Finding]:
    """Read the curves of one run and say what they show, most severe first.

    Pure: the same history and context always give the same findings.

    Args:
        history: per-epoch records (``epoch``, ``loss``, optional ``val_loss``, ``grad_norm``,
            ``dead_units``...).
        context: facts about the run (baselines, regularisers, split sizes); see
            ``context_from_run``.
        thresholds: the cut-offs; ``Thresholds()`` documents every default.

    Example:
        >>> history = [{"epoch": e, "loss": 1 / e, "val_loss": 1 / e + 0.01} for e in range(1, 30)]
        >>> [f.kind for f in diagnose(history)]
        ['not_converged']
    """
    context = context or DiagnosisContext()
    limits = thresholds or Thresholds()
    findings = learning_rate.non_finite_loss(history, context, limits)
    if findings:  # nothing after a NaN is meaningful; say only that, and why
        return findings + gradients.gradient_health(history, context, limits)
    if len(history) < limits.min_epochs:
        return [_too_short(len(history), limits)]
    # A penalty that pins the weights at zero explains a flat curve before any learning rate.
    findings = fit_regime.held_by_penalty(history, context, limits)
    if not findings:
        findings = learning_rate.lr_too_high(history, context, limits)
        if not findings:  # a loss too unstable to fall is not falling slowly
            findings = learning_rate.lr_too_low(history, context, limits)
    # A wrong learning rate or penalty explains a poor or unfinished fit.
    explained = bool(findings)
    if not explained:
        findings += fit_regime.underfitting(history, context, limits)
        findings += convergence.not_converged(history, context, limits)
    findings += fit_regime.overfitting(history, context, limits)
    findings += convergence.sudden_increase(history, context, limits)
    findings += convergence.plateau(history, context, limits)
    findings += validation_curve.val_below_train(history, context, limits)
    findings += validation_curve.noisy_validation(history, context, limits)
    findings += gradients.gradient_health(history, context, limits)
    findings += gradients.dead_units(history, context, limits)
    findings += predictions.one_class(history, context, limits)
    # Under-fitting and a wrong learning rate already say why the model is poor.
    if not explained and not any(f.kind == "underfitting" for f in findings):
        findings += fit_regime.versus_linear(history, context, limits)
    if any(f.evidence.get("cause") == "learning_rate" for f in findings):
        # Dead units from too high a rate: "train longer" would be the wrong advice.
        findings = [f for f in findings if f.kind != "not_converged"]
    # "No better than a linear model" is only info, but it still rules out a good fit.
    if not any(f.kind in FIT_PROBLEMS and (f.severity != "info" or f.kind.endswith("linear"))
               for f in findings):
        findings.append(_good_fit(history, context))
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])


def _good_fit(history: list[dict], context: DiagnosisContext) -> Finding:
    loss = series(history, "loss")
    evidence = {"final_train_loss": float(loss[-1])}
    message = "The training loss fell quickly and then settled"
    if has(history, "val_loss"):
        val = series(history, "val_loss")
        best = int(np.nanargmin(val))
        evidence.update(best_val_loss=float(val[best]), best_epoch=best + 1)
        message += (f", and the validation loss followed it to its best value ({val[best]:.3g} at "
                    f"epoch {best + 1})")
        later = len(val) - 1 - best
        if context.stopped_early and later > 0:
            # A plateau or over-fitting that early stopping caught: say so, not "it never
            # turned up" (it may have).
            message += (f"; it did not improve after that, and early stopping ended the run "
                        f"{later} epoch{'s' if later > 1 else ''} later")
        else:
            message += " without turning up"
    linear = context.baseline("linear")
    if linear:
        evidence["vs_linear"] = float(loss[-1] / linear)
        message += f". The network beats a linear model's training loss ({linear:.3g})"
    return Finding("good_fit", "info", "Good fit", message + ".", [], evidence,
                   ["nothing needed; to squeeze more out, compare a few settings with "
                    "`trainwise compare`"])


def _too_short(epochs: int, limits: Thresholds) -> Finding:
    return Finding("too_short", "info", "Too few epochs to read the curves",
                   f"The run has {epochs} epochs; the diagnosis needs at least "
                   f"{limits.min_epochs}.", [], {"epochs": epochs},
                   [f"train.epochs: {limits.min_epochs} or more"])
