"""What the diagnosis needs to know about a run besides its history, read from its record."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from trainwise.yaml_io import load_yaml


@dataclass
class DiagnosisContext:
    """Facts about the run that change how curves are read. Every field has a safe default.

    Attributes:
        task: "regression" or "classification".
        baselines: ``{"constant": {"train", "val"}, "linear": {"train", "val"}}`` losses.
        monitor: the key early stopping watched.
        early_stopping: whether it was on; ``stopped_early``: whether it ended the run.
        epochs_planned: ``train.epochs``.
        dropout, batch_norm, input_noise, mixup: regularisers active only in training;
            l1, l2: the weight penalties.
        val_rows, train_rows: split sizes.
        lr, optimizer, hidden: for advice in concrete numbers.
    """

    task: str = "regression"
    baselines: dict = field(default_factory=dict)
    monitor: str = "val_loss"
    early_stopping: bool = False
    stopped_early: bool = False
    epochs_planned: int | None = None
    dropout: float = 0.0
    batch_norm: bool = False
    input_noise: float = 0.0
    mixup: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    val_rows: int = 0
    train_rows: int = 0
    lr: float | None = None
    optimizer: str | None = None
    hidden: list[int] = field(default_factory=list)
    # The held-out split's confusion matrix (rows actual, columns predicted) and its classes,
    # for classification and segmentation runs.
    confusion: list[list[int]] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)

    def baseline(self, name: str, split: str = "train") -> float | None:
        return self.baselines.get(name, {}).get(split)


def context_from_run(run_path: str | Path) -> DiagnosisContext:
    """Build the context from a run directory's files (config, baselines, summary, status)."""
    path = Path(run_path)
    config = load_yaml((path / "config.yaml").read_text())
    rows = _read_json(path / "data_summary.json").get("rows", {})
    status = _read_json(path / "status.json")
    stopping = config["train"]["early_stopping"]
    metrics = _read_json(path / "metrics.json")
    held_out = metrics.get("test") or metrics.get("val") or {}
    return DiagnosisContext(
        task=config["task"]["type"],
        baselines=_read_json(path / "baselines.json"),
        monitor=stopping["monitor"],
        early_stopping=bool(stopping["enabled"]),
        stopped_early=str(status.get("stop_reason") or "").startswith("early stopping"),
        epochs_planned=config["train"]["epochs"],
        dropout=config["model"].get("dropout", 0.0),
        batch_norm=config["model"].get("batch_norm", False),
        # .get: run records from before model.input_noise existed have no such key.
        input_noise=config["model"].get("input_noise", 0.0),
        mixup=config["train"].get("mixup", 0.0),
        l1=config["model"].get("l1", 0.0),
        l2=config["model"].get("l2", 0.0),
        val_rows=rows.get("val", 0),
        train_rows=rows.get("train", 0),
        lr=config["train"]["lr"],
        optimizer=config["train"]["optimizer"],
        hidden=config["model"].get("hidden", []),
        confusion=held_out.get("confusion_matrix", []),
        classes=[str(name) for name in held_out.get("classes", [])],
    )


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}
