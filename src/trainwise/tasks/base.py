"""The task seam: what a kind of target brings to a run.

A run is an input kind (how samples are read, preprocessed and batched: ``trainwise.inputs``)
times a model times a task. The task owns everything that depends on what is predicted:

- ``running_metric``: the metric the trainer accumulates every epoch (``mae``, ``accuracy``);
- ``loss``: the loss its config asks for, with any per-class factors resolved;
- ``check``: config values that must fit the data (e.g. one weight per class), checked
  before any file is written;
- ``callbacks``: task-specific live records (the confusion matrix of a classifier);
- ``baselines``: the constant and linear references the diagnosis reads curves against;
- ``evaluate_split``: final metrics and ``predictions.csv`` rows of a held-out split;
- ``predict`` / ``score``: prediction columns and metrics for raw inputs after training.

Every method has a working default, so a new task overrides only what differs. To add one,
subclass ``Task`` in a module of this package and register an instance in ``TASKS``
(``trainwise/tasks/__init__.py``); ``task.type`` then accepts its name. Sketch:

    class CountRegression(Regression):
        name = "count_regression"

        def predict(self, model, features, prep, cfg):
            columns = super().predict(model, features, prep, cfg)
            return columns.round()
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd
import torch

from trainwise.baselines import compute_baselines
from trainwise.training.losses import build_loss

if TYPE_CHECKING:
    from trainwise.callbacks.base import Callback
    from trainwise.config.schema import Config
    from trainwise.data.prepare import PreparedData
    from trainwise.data.preprocess import Preprocessor
    from trainwise.tracking.run_dir import RunDirectory
    from trainwise.training.losses import RowLoss


@dataclass
class SplitResult:
    """A held-out split's final evaluation."""

    metrics: dict
    rows: pd.DataFrame  # predictions.csv rows: split, actual, predicted...
    measurement_rows: pd.DataFrame | None = None  # per-measurement rows of per-site runs


class Task:
    """Base of every task: defaults for a target the network predicts one value per row of."""

    name: ClassVar[str]
    running_metric: ClassVar[str] = "mae"  # accumulated on the device every epoch
    probabilistic: ClassVar[bool] = False  # predicts a distribution (mean and variance)

    def check(self, cfg: Config, prep: Preprocessor) -> None:
        """Refuse config values that do not fit the data (raise ``UserError``)."""

    def loss(self, cfg: Config, prep: Preprocessor, y_train: torch.Tensor,
             device: torch.device) -> RowLoss:
        """The training and validation loss, on ``device``."""
        return build_loss(cfg.task).to(device)

    def loss_notes(self, cfg: Config, prep: Preprocessor, y_train: torch.Tensor) -> dict:
        """For data_summary.json: factors the loss applies (class weights...), and where."""
        return {}

    def callbacks(self, cfg: Config, data: PreparedData, run_dir: RunDirectory) -> list[Callback]:
        """Task-specific callbacks, run after the checkpoint (they must be stateless)."""
        return []

    def baselines(self, cfg: Config, data: PreparedData) -> dict:
        """``{"constant": {split: loss}, "linear": {split: loss}}`` with the run's loss."""
        loss_fn = self.loss(cfg, data.preprocessor,
                            torch.from_numpy(data.arrays["train"][1]), torch.device("cpu"))
        return compute_baselines(data.arrays, self.name, data.preprocessor.n_outputs, loss_fn)

    def evaluate_split(self, model: torch.nn.Module, cfg: Config, data: PreparedData,
                       split: str, outputs: np.ndarray | None = None) -> SplitResult:
        """Metrics and prediction rows of a held-out split (``model`` on the CPU, eval mode).

        ``outputs``: the model's outputs on the split when already computed, exactly as
        ``model_outputs`` computes them (the last validation pass's, ``run_record``).
        """
        features, targets = data.arrays[split]
        if outputs is None:
            outputs = model_outputs(model, features)
        prep = data.preprocessor
        return SplitResult(self.metrics(prep, outputs, targets),
                           self.prediction_rows(prep, split, outputs, targets))

    def metrics(self, prep: Preprocessor, outputs: np.ndarray, targets: np.ndarray) -> dict:
        """Final metrics from model outputs and encoded targets."""
        raise NotImplementedError

    def prediction_rows(self, prep: Preprocessor, split: str, outputs: np.ndarray,
                        targets: np.ndarray) -> pd.DataFrame:
        """``split, actual, predicted`` per row, in the target's own units or class names."""
        raise NotImplementedError

    def predict(self, model: torch.nn.Module, features: np.ndarray, prep: Preprocessor,
                cfg: Config) -> pd.DataFrame:
        """Prediction columns for preprocessed inputs (``<target>_pred``, ...)."""
        raise NotImplementedError

    def score(self, model: torch.nn.Module, features: np.ndarray, targets: np.ndarray,
              prep: Preprocessor, cfg: Config) -> dict:
        """Metrics for preprocessed inputs and encoded targets, as at the end of training."""
        return self.metrics(prep, model_outputs(model, features), targets)


# Array samples (images, frames) go through the model in chunks of about this many input
# values: a convolution's activations over a whole split at once would take gigabytes. Small
# enough that a chunk's activations stay in the cache and below glibc's mmap threshold
# (allocator.py), so they are reused rather than faulted in anew: on 4,000 32×32 frames
# through three conv blocks, chunks of 256 took 0.30 s a pass, chunks of 1,024 0.38-0.51 s.
CHUNK_VALUES = 2**18


def model_outputs(model: torch.nn.Module, features: np.ndarray) -> np.ndarray:
    """The model's raw outputs (regression values, or class logits) for preprocessed inputs."""
    inputs = torch.from_numpy(features)
    with torch.inference_mode():
        if features.ndim <= 2:  # feature vectors: one pass
            return model(inputs).numpy()
        rows = output_chunk_rows(features.shape[1:])
        return torch.cat([model(inputs[start:start + rows])
                          for start in range(0, len(inputs), rows)]).numpy()


def output_chunk_rows(sample_shape: tuple[int, ...]) -> int:
    """Array samples per chunk in ``model_outputs``."""
    return max(1, CHUNK_VALUES // math.prod(sample_shape))
