"""How a regression model's predictions sit against the truth: predicted vs actual, and the
residuals vs predicted, both in the target's own units."""

from __future__ import annotations

from pathlib import Path

from trainwise.reports.figure import new_figure, save_figure

POINT_STYLE = {"s": 14, "alpha": 0.6, "edgecolors": "none"}


def plot_predicted_vs_actual(actual: list[float], predicted: list[float], path: str | Path,
                             target: str, split: str = "test") -> Path:
    """A scatter of predicted against actual values with the ``y = x`` line, as a PNG.

    Points on the line are exact predictions; a cloud tilted flatter than the line means the
    model pulls extreme values towards the mean.

    Args:
        actual: the true target values.
        predicted: the model's predictions, in the same order.
        path: the PNG to write.
        target: the target column's name, the unit of both axes.
        split: which split the rows come from, for the title.

    Returns:
        ``path``.
    """
    figure, axis = new_figure(5.2, 5.0)
    axis.scatter(actual, predicted, **POINT_STYLE, label=f"{split} rows (n={len(actual)})")
    low, high = min(min(actual), min(predicted)), max(max(actual), max(predicted))
    margin = (high - low) * 0.04 or 1.0
    limits = (low - margin, high + margin)
    axis.plot(limits, limits, color="black", linewidth=1, linestyle="--",
              label="perfect prediction (y = x)")
    axis.set_xlim(limits)
    axis.set_ylim(limits)
    axis.set_aspect("equal")
    axis.set_xlabel(f"actual {target}")
    axis.set_ylabel(f"predicted {target}")
    axis.set_title(f"predicted vs actual {target} ({split} split)")
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left")
    return save_figure(figure, path)


def plot_residuals(actual: list[float], predicted: list[float], path: str | Path,
                   target: str, split: str = "test") -> Path:
    """Residuals (actual - predicted) against the prediction, with the zero line, as a PNG.

    A good model leaves a band of even width around zero; a funnel or a curve shows errors
    that depend on the predicted value.

    Args:
        actual: the true target values.
        predicted: the model's predictions, in the same order.
        path: the PNG to write.
        target: the target column's name, the unit of both axes.
        split: which split the rows come from, for the title.

    Returns:
        ``path``.
    """
    residuals = [truth - guess for truth, guess in zip(actual, predicted)]
    figure, axis = new_figure()
    axis.scatter(predicted, residuals, **POINT_STYLE, label=f"{split} rows (n={len(actual)})")
    axis.axhline(0, color="black", linewidth=1, linestyle="--", label="no error")
    axis.set_xlabel(f"predicted {target}")
    axis.set_ylabel(f"residual: actual - predicted ({target})")
    axis.set_title(f"residuals vs predicted {target} ({split} split)")
    axis.grid(alpha=0.3)
    axis.legend()
    return save_figure(figure, path)
