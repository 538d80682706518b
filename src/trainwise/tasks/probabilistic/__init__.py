"""Probabilistic regression: a Normal (mean and variance) per row, its losses' evaluation,
calibration metrics and the Gaussian-process baseline (the task: ``task.py``)."""
