"""Diagnosis: read a run's curves and say, in plain words, what they show and what to change.

Pure: it reads a history (and a run directory for context) and never imports training.
"""

from trainwise.diagnostics.context import DiagnosisContext, context_from_run
from trainwise.diagnostics.diagnose import diagnose
from trainwise.diagnostics.finding import Finding
from trainwise.diagnostics.thresholds import Thresholds

__all__ = ["DiagnosisContext", "Finding", "Thresholds", "context_from_run", "diagnose",
           "diagnose_run"]


def diagnose_run(run_path, thresholds: Thresholds | None = None) -> list[Finding]:
    """Diagnose a run directory from its history.json and record."""
    import json
    from pathlib import Path

    history = json.loads((Path(run_path) / "history.json").read_text())
    return diagnose(history, context_from_run(run_path), thresholds)
