"""One run of one tool, as the runner hands it to a worker process, and the data it reads.

Plain data only (JSON in, JSON out), and no framework imports: the Keras worker must not
load torch, nor the torch workers TensorFlow, or their memory and start-up would be counted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Job:
    """Everything a worker needs to train one tool once (a sweep: once per rate).

    Args:
        tool: a name from ``peers.TOOLS``.
        scenario: the scenario's number, e.g. "1" or "3a".
        arrays: ``data.npz`` (see ``scenarios.prepare``).
        train_table: raw training rows (Parquet; a CNN scenario's raw ``train.npz``) for
            trainwise.
        val_table: raw validation rows (Parquet, or ``val.npz``) for trainwise.
        target: the target column in the tables ("" for images).
        hidden: hidden layer sizes (relu), one output.
        batch_size: rows per optimizer step.
        epochs: passes over the training rows, validating after each.
        lrs: Adam learning rates; more than one is a sweep.
        device: "cpu" or "cuda".
        seed: seeds data order and anything else a tool draws.
        init: "torch" or "glorot": how the shared initial weights were drawn.
        scratch: this run's own empty folder (trainwise's runs_dir lives here).
        options: the tool's options from ``peers.TOOLS`` and the command line.
        warmup: fields that turn this job into its untimed warm-up run (other data files,
            one epoch), or None for no warm-up.
        layers: a CNN as trainwise's ``model.layers`` (head to ``n_classes`` added), or empty
            for the MLP of ``hidden``.
        n_classes: classes of a classification task (cross-entropy on logits); 0: regression
            (MSE on one output).
        data_kind: trainwise's ``data.kind`` for the raw files: "table", "images", "frames".
    """

    tool: str
    scenario: str
    arrays: str
    train_table: str
    val_table: str
    target: str
    hidden: list[int]
    batch_size: int
    epochs: int
    lrs: list[float]
    device: str
    seed: int
    init: str
    scratch: str
    options: dict = field(default_factory=dict)
    warmup: dict | None = None
    layers: list[dict] = field(default_factory=list)
    n_classes: int = 0
    data_kind: str = "table"

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def read(cls, path: Path) -> Job:
        return cls(**json.loads(Path(path).read_text()))

    def warmup_job(self) -> Job | None:
        """The warm-up run: the same tool and model on ``warmup``'s data, in its own folder."""
        if not self.warmup:
            return None
        folder = Path(self.scratch) / "warmup"
        folder.mkdir(exist_ok=True)
        return Job(**{**asdict(self), **self.warmup, "scratch": str(folder), "warmup": None})

    def steps_per_run(self, n_train: int) -> int:
        """Optimizer steps of one training run: epochs x batches per epoch (last one short)."""
        return self.epochs * -(-n_train // self.batch_size)


@dataclass
class Data:
    """The standardised arrays and initial weights every tool starts from."""

    x_train: np.ndarray  # (N, F) float32, or images (N, C, H, W)
    y_train: np.ndarray  # (N,) float32, or int64 class indices
    x_val: np.ndarray  # (M, F) or (M, C, H, W) float32
    y_val: np.ndarray  # (M,) float32 or int64
    # weight and bias per layer, PyTorch layout: dense (out, in), conv (out, in, kh, kw)
    weights: list[tuple[np.ndarray, np.ndarray]]


def load_data(path: str | Path) -> Data:
    """Read ``data.npz`` as written by ``scenarios.prepare``."""
    with np.load(path) as saved:
        layers = sum(1 for key in saved.files if key.startswith("w"))
        return Data(saved["x_train"], saved["y_train"], saved["x_val"], saved["y_val"],
                    [(saved[f"w{i}"], saved[f"b{i}"]) for i in range(layers)])


def mse(prediction: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error of (M,) or (M, 1) predictions, in float64 (every tool's val loss)."""
    return float(np.mean((prediction.reshape(-1).astype(np.float64) - target) ** 2))


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of (M, K) logits against (M,) class indices, in float64 (every
    tool's val loss on a classification scenario)."""
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def score(prediction: np.ndarray, target: np.ndarray, n_classes: int) -> float:
    """The validation loss the table shows: cross-entropy for classes, else MSE."""
    return cross_entropy(prediction, target) if n_classes else mse(prediction, target)
