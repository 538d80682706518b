"""Tasks: what a run predicts (regression, classification, probabilistic regression).

The contract is ``trainwise.tasks.base.Task``; the registry is ``trainwise.tasks.registry``.
This package's modules are imported on use, so reading one (e.g. the probabilistic metrics
for a report) does not load the others.
"""
