"""Helpers shared by tests."""

from __future__ import annotations


def small_config(source, target="y", task="regression", **train) -> dict:
    """A tiny, fast config as a dict."""
    return {
        "name": "test",
        "data": {"source": str(source), "target": target},
        "task": {"type": task},
        "model": {"hidden": [16]},
        "train": {"epochs": 5, "batch_size": 32, "lr": 0.01, **train},
    }
