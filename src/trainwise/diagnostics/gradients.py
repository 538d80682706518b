"""Gradients that explode or vanish, and ReLU units that never fire."""

from __future__ import annotations

import numpy as np

from trainwise.diagnostics.context import DiagnosisContext
from trainwise.diagnostics.finding import Finding
from trainwise.diagnostics.signals import epoch_of, has, series
from trainwise.diagnostics.thresholds import Thresholds


def gradient_health(history: list[dict], context: DiagnosisContext,
                    limits: Thresholds) -> list[Finding]:
    if not has(history, "grad_norm") or len(history) < limits.min_epochs:
        return []
    norms = series(history, "grad_norm")
    early = float(np.nanmedian(norms[:limits.min_epochs]))
    peak = int(np.nanargmax(np.where(np.isfinite(norms), norms, np.inf)))
    if not np.isfinite(norms).all() or norms[peak] > max(limits.exploding_factor * early,
                                                         limits.exploding_absolute):
        return [Finding(
            "exploding_gradients", "problem", f"Exploding gradients at epoch {epoch_of(peak)}",
            f"The gradient norm reached {norms[peak]:.3g} at epoch {epoch_of(peak)}, against "
            f"{early:.3g} in the first epochs. Updates that large throw the weights far away.",
            [epoch_of(peak)], {"peak_grad_norm": float(norms[peak]), "early_grad_norm": early},
            ["train.grad_clip: 1.0", "lower train.lr by 10x", "model.batch_norm: true"],
        )]
    last = float(norms[-1])
    if early > 0 and last < limits.vanishing_factor * early:
        return [Finding(
            "vanishing_gradients", "warning", "Vanishing gradients",
            f"The gradient norm fell from {early:.3g} to {last:.3g}: the weights hardly receive "
            "a learning signal any more. Saturating activations (sigmoid, tanh) in deep "
            "networks and poor initialisation are the usual causes.",
            [], {"early_grad_norm": early, "final_grad_norm": last},
            ["model.activation: relu or gelu", "model.init: kaiming_normal",
             "model.batch_norm: true", "fewer layers"],
        )]
    return []


def dead_units(history: list[dict], context: DiagnosisContext,
               limits: Thresholds) -> list[Finding]:
    if not has(history, "dead_units"):
        return []
    share = series(history, "dead_units")
    final = float(share[-1])
    if not final >= limits.dead_units_share:
        return []
    return [Finding(
        "dead_relu_units", "warning", f"{final:.0%} of the ReLU units are dead",
        f"At the last epoch {final:.0%} of the hidden ReLU units output zero for every "
        f"validation row (it was {share[0]:.0%} after the first epoch). A dead unit gets no "
        "gradient, so it never recovers: that capacity is lost. Large learning rates and "
        "strong L1 penalties are the usual causes.",
        [1, len(share)], {"final_dead_share": final, "first_dead_share": float(share[0])},
        ["model.activation: leaky_relu (or elu, gelu)", "lower train.lr",
         "model.l1: smaller, if set", "model.init: kaiming_normal"],
    )]
