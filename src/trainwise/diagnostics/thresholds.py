"""Every threshold the diagnosis uses, named, with its default and what it means."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """Named cut-offs for reading curves. Pass your own to ``diagnose`` to be stricter or looser.

    Shares and ratios are fractions (0.1 = 10 %). "Tail" is the last ``tail_share`` of the
    epochs (at least ``min_tail_epochs``).

    Example:
        >>> Thresholds(overfit_val_rise=0.2).overfit_val_rise
        0.2
    """

    min_epochs: int = 5  # fewer epochs than this: too short to read (only NaN is reported)
    tail_share: float = 0.1  # the tail is this share of the epochs...
    min_tail_epochs: int = 5  # ...but at least this many
    smoothing_epochs: int = 5  # rolling-median window that takes the noise out of curves

    # One class: the held-out predictions are nearly all one class, and the rest is missed.
    one_class_share: float = 0.9  # predicted share of one class at least this...
    one_class_other_recall: float = 0.5  # ...and the other classes' pooled recall below this

    # Under-fitting: the network does no better than simple models on its own training rows.
    underfit_vs_linear: float = 0.9  # train loss >= this x a linear model's train loss
    underfit_vs_constant: float = 0.5  # or >= this x the constant predictor's train loss
    flat_change: float = 0.02  # a tail improving less than this (relative) is flat
    close_gap: float = 0.3  # val loss within this (relative) of train loss: curves are close
    # Good fit only when the best validation loss is below this x a linear model's (on the
    # validation rows): a network no better than a straight line is no good fit.
    good_fit_vs_linear: float = 0.95
    tiny_layer: int = 2  # a hidden layer this narrow makes a model too simple by itself
    near_end_share: float = 0.05  # best epoch within the last this share of epochs: not done

    # Over-fitting: validation loss turns up while training loss keeps falling.
    overfit_val_rise: float = 0.10  # final val loss above its minimum by this much
    overfit_train_drop: float = 0.05  # training loss fell by at least this after that minimum
    would_stop_patience: int = 20  # for "early stopping would have stopped at epoch N"

    # Learning rate too high.
    spike_share: float = 0.3  # a jump bigger than this share of the total progress is a spike
    oscillation_rise_share: float = 0.4  # this share of epochs with a rising training loss...
    rise_tolerance: float = 0.02  # ...counting rises bigger than this (relative)
    not_learning_vs_constant: float = 0.9  # final loss >= this x constant baseline: no learning

    # Learning rate too low: a slow, nearly straight decrease far from where it could go.
    straight_line_ratio: float = 0.5  # 2nd-half drop / 1st-half drop above this: straight
    barely_moved: float = 0.05  # a total relative drop below this: the loss barely moved
    far_from_reference: float = 1.5  # still this many times the linear model's loss: far off

    # Convergence.
    still_improving: float = 0.02  # monitored loss improved this much over the tail: not done
    plateau_epochs: int = 10  # a stretch at least this long...
    plateau_change: float = 0.02  # ...moving less than this share of the run's progress...
    plateau_escape_drop: float = 0.2  # ...is a plateau if the loss then falls by this share
    # of the run's progress within as many epochs
    sudden_rise: float = 0.3  # loss rising above its minimum by this share of all progress within...
    sudden_rise_epochs: int = 3  # ...this many epochs, and staying up, is a sudden increase

    # Validation curve.
    val_below_margin: float = 0.05  # val below train by more than this (relative)...
    val_below_share: float = 0.5  # ...in at least this share of epochs
    noisy_ratio: float = 3.0  # val curve this many times rougher than the training curve...
    noisy_min_roughness: float = 0.03  # ...and moving at least this much per epoch (relative)

    # Gradients and units.
    exploding_factor: float = 100.0  # gradient norm this many times its early median
    exploding_absolute: float = 1e4  # or simply above this
    vanishing_factor: float = 1e-4  # gradient norm below this x its early median
    dead_units_share: float = 0.4  # share of ReLU units silent on every validation row
