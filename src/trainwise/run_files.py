"""A run's record as files: id, status, history, metrics, findings; no model, no torch.

Commands that only read runs (``show``, ``runs``, ``diagnose``) use this, so they answer in
a blink; ``trainwise.run.Run`` extends it with the model, to predict and evaluate.

Example:
    >>> record = RunFiles(resolve_run("last", "runs"))      # doctest: +SKIP
    >>> record.status["status"], record.metrics["test"]     # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from trainwise.tracking.run_dir import RunDirectory
from trainwise.yaml_io import load_yaml

INIT_REPORT_FILE = "init_from.json"  # what model.init_from loaded and skipped


class RunFiles:
    """One run directory's written record.

    Attributes:
        path: the run directory.
        history: one dict per epoch (``epoch``, ``loss``, ``val_loss``, metrics, ``lr``...).
        metrics: final metrics per split (``{"test": {...}, "val": {...}}``).
        status: ``status.json``: status, epochs, best epoch and value, stop reason.
    """

    def __init__(self, run_dir: RunDirectory):
        self.run_dir = run_dir

    @property
    def path(self) -> Path:
        return self.run_dir.path

    @property
    def id(self) -> str:
        return self.run_dir.run_id

    @property
    def raw_config(self) -> dict:
        """config.yaml as plain data (``Run.config`` validates it into a ``Config``)."""
        return load_yaml(self.run_dir.file("config.yaml").read_text())

    @property
    def history(self) -> list[dict]:
        return self.run_dir.read_json("history.json") if self.run_dir.exists("history.json") else []

    @property
    def metrics(self) -> dict:
        return self.run_dir.read_json("metrics.json") if self.run_dir.exists("metrics.json") else {}

    @property
    def status(self) -> dict:
        return self.run_dir.read_json("status.json")

    @property
    def findings(self) -> list[dict]:
        return (self.run_dir.read_json("findings.json") if self.run_dir.exists("findings.json")
                else [])
