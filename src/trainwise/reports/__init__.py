"""Plots and pages drawn from a run's plain-data history and metrics."""

from trainwise.reports.curves import plot_history

__all__ = ["plot_history"]
