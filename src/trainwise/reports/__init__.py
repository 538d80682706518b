"""Plots and pages drawn from a run's plain-data record; never from the training code."""

from trainwise.reports.compare import comparison_table, differing_settings, plot_comparison
from trainwise.reports.curves import plot_history
from trainwise.reports.html import write_report
from trainwise.reports.plots import write_plots

__all__ = ["comparison_table", "differing_settings", "plot_comparison", "plot_history",
           "write_plots", "write_report"]
