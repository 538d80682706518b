"""A finished (or interrupted) run, loaded from its directory: predict and evaluate on raw inputs.

Loading never executes code from the run's files: the config is YAML read safely, the
preprocessing is JSON, the weights are safetensors.

Example:
    >>> run = load_run("runs/20261121-101500-auto_mpg")            # doctest: +SKIP
    >>> run.predict(new_cars)["mpg_pred"].head()                      # doctest: +SKIP
    >>> run.evaluate(labelled_cars)["mae"]                            # doctest: +SKIP
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file

from trainwise.config.load import load_config
from trainwise.config.schema import Config
from trainwise.data.preprocess import Preprocessor
from trainwise.errors import UserError
from trainwise.inputs.base import InputKind
from trainwise.inputs.registry import input_kind_for
from trainwise.models.build import build_model
from trainwise.tasks.base import Task
from trainwise.tasks.registry import task_for
from trainwise.run_files import RunFiles
from trainwise.tracking.run_dir import resolve_run
from trainwise.training.checkpoint import load_weights_into

MODEL_FILE = "model.safetensors"


class Run(RunFiles):
    """One run directory, with the model ready to predict.

    Attributes:
        path: the run directory.
        config: the resolved config the run trained with.
        history: one dict per epoch (``epoch``, ``loss``, ``val_loss``, metrics, ``lr``...).
        metrics: final metrics per split (``{"test": {...}, "val": {...}}``).
        status: ``status.json``: status, epochs, best epoch and value, stop reason.
    """

    @cached_property
    def config(self) -> Config:
        return load_config(self.raw_config)

    @cached_property
    def preprocessor(self) -> Preprocessor:
        return self.inputs.load_preprocessing(self.run_dir.read_json("preprocessing.json"))

    @cached_property
    def model(self) -> torch.nn.Module:
        """The final model (best weights when early stopping restored them), in eval mode."""
        weights_path = self.run_dir.file(MODEL_FILE)
        if not weights_path.is_file():
            raise UserError(f"run '{self.path}' has no {MODEL_FILE}: it has not finished "
                            f"(status: {self.status.get('status')}). Resume it first with "
                            f"`trainwise resume {self.path}`.")
        prep = self.preprocessor
        model = build_model(self.config.model, self.inputs.input_shape(prep), prep.n_outputs,
                            self.task.probabilistic)
        try:
            weights = load_file(weights_path)
        except Exception as err:  # safetensors raises its own error types for damaged files
            raise UserError(f"'{weights_path}' is corrupt or truncated ({err}); retrain the "
                            "run or use another one.") from None
        load_weights_into(model, weights, f"'{weights_path}'")
        return model.eval()

    @cached_property
    def inputs(self) -> InputKind:
        """The run's input kind (``data.kind``): reads raw inputs as training did."""
        return input_kind_for(self.config.data.kind)

    @cached_property
    def task(self) -> Task:
        """The run's task (``task.type``): its prediction columns and metrics."""
        return task_for(self.config.task.type)

    def write_plots(self) -> list[Path]:
        """Draw the run's PNG plots into its ``plots/`` folder (``fit`` leaves them unless
        asked, ``trainwise train`` draws them) and return their paths, in reading order."""
        from trainwise.reports.plots import write_plots

        return write_plots(self.path)

    def predict(self, frame: pd.DataFrame, source: str = "the input",
                unseen_categories: str | None = None) -> pd.DataFrame:
        """Predictions for raw inputs (for a table: the training columns; the target may be
        absent).

        ``unseen_categories`` ("warn" or "error"; None: the run's data.unseen_categories)
        picks what a category never seen in training does: an ``UnseenCategoryWarning``,
        or a ``UserError``. Infinite numbers are always a ``UserError``; missing ones are
        filled in as in training.

        Returns a frame with the input's index: ``<target>_pred`` and, for classification,
        ``prob_<class>`` per class; for probabilistic regression the predicted Normal's mean
        ``<target>_pred`` and its ``_variance``, ``_std``, 90 % interval and ``_epistemic`` part.
        """
        features = self._features(frame, source, unseen_categories)
        columns = self.task.predict(self.model, features, self.preprocessor, self.config)
        return columns.set_axis(self.inputs.index(frame))

    def evaluate(self, frame: pd.DataFrame, source: str = "the input",
                 unseen_categories: str | None = None) -> dict:
        """Metrics on labelled raw inputs, computed as at the end of training.

        ``unseen_categories``: as for ``predict``.
        """
        targets = self.inputs.targets(self.preprocessor, frame, source)
        features = self._features(frame, source, unseen_categories)
        return self.task.score(self.model, features, targets, self.preprocessor, self.config)

    def predict_distribution(self, frame: pd.DataFrame,
                             source: str = "the input") -> tuple[np.ndarray, np.ndarray]:
        """(mean, variance), each (N,), in the target's units, for a probabilistic run.

        Raises:
            UserError: the run does not predict distributions.
        """
        if not self.task.probabilistic:
            raise UserError(f"run {self.id} is a {self.preprocessor.task} run; only "
                            "task.type: probabilistic_regression predicts a mean and variance.")
        parts = self.task.distribution(self.model, self._features(frame, source, None),
                                       self.preprocessor, self.config)
        return parts["mean"], parts["variance"]

    def _features(self, raw, source: str, unseen_categories: str | None) -> np.ndarray:
        """The model's inputs for raw inputs; categories unseen in training warn or raise."""
        mode = unseen_categories or self.config.data.unseen_categories
        return self.inputs.features(self.preprocessor, raw, source, mode)


def load_run(reference: str | Path, runs_dir: str | Path = "runs") -> Run:
    """Open a run by path or id (see ``resolve_run``)."""
    return Run(resolve_run(reference, runs_dir))
