"""A finished (or interrupted) run, loaded from its directory: predict and evaluate on raw rows.

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
from trainwise.data.preprocess import Preprocessor, numeric_column
from trainwise.errors import UserError
from trainwise.metrics import classification_metrics, regression_metrics
from trainwise.models.build import build_model
from trainwise.tracking.run_dir import RunDirectory, resolve_run
from trainwise.training.checkpoint import load_weights_into
from trainwise.uncertainty import distribution_columns, evaluate_distribution, predictive_parts
from trainwise.yaml_io import load_yaml

MODEL_FILE = "model.safetensors"


class Run:
    """One run directory, with the model ready to predict.

    Attributes:
        path: the run directory.
        config: the resolved config the run trained with.
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

    @cached_property
    def config(self) -> Config:
        raw = load_yaml(self.run_dir.file("config.yaml").read_text())
        return load_config(raw)

    @cached_property
    def preprocessor(self) -> Preprocessor:
        return Preprocessor.from_dict(self.run_dir.read_json("preprocessing.json"))

    @property
    def history(self) -> list[dict]:
        return self.run_dir.read_json("history.json") if self.run_dir.exists("history.json") else []

    @property
    def metrics(self) -> dict:
        return self.run_dir.read_json("metrics.json") if self.run_dir.exists("metrics.json") else {}

    @property
    def status(self) -> dict:
        return self.run_dir.read_json("status.json")

    @cached_property
    def model(self) -> torch.nn.Module:
        """The final model (best weights when early stopping restored them), in eval mode."""
        weights_path = self.run_dir.file(MODEL_FILE)
        if not weights_path.is_file():
            raise UserError(f"run '{self.path}' has no {MODEL_FILE}: it has not finished "
                            f"(status: {self.status.get('status')}). Resume it first with "
                            f"`trainwise resume {self.path}`.")
        prep = self.preprocessor
        model = build_model(self.config.model, len(prep.feature_names), prep.n_outputs,
                            prep.is_probabilistic)
        try:
            weights = load_file(weights_path)
        except Exception as err:  # safetensors raises its own error types for damaged files
            raise UserError(f"'{weights_path}' is corrupt or truncated ({err}); retrain the "
                            "run or use another one.") from None
        load_weights_into(model, weights, f"'{weights_path}'")
        return model.eval()

    def predict(self, frame: pd.DataFrame, source: str = "the input",
                unseen_categories: str | None = None) -> pd.DataFrame:
        """Predictions for raw rows (the training columns; the target may be absent).

        ``unseen_categories`` ("warn" or "error"; None: the run's data.unseen_categories)
        picks what a category never seen in training does: an ``UnseenCategoryWarning``,
        or a ``UserError``. Infinite numbers are always a ``UserError``; missing ones are
        filled in as in training.

        Returns a frame with the input's index: ``<target>_pred`` and, for classification,
        ``prob_<class>`` per class; for probabilistic regression the predicted Normal's mean
        ``<target>_pred`` and its ``_variance``, ``_std``, 90 % interval and ``_epistemic`` part.
        """
        prep = self.preprocessor
        if prep.is_probabilistic:
            parts = self._distribution(frame, source, unseen_categories)
            columns = distribution_columns(parts, f"{prep.target}_pred")
            return columns.set_axis(frame.index)
        outputs = self._outputs(self._features(frame, source, unseen_categories))
        column = f"{prep.target}_pred"
        if prep.task == "regression":
            return pd.DataFrame({column: prep.inverse_target(outputs[:, 0])}, index=frame.index)
        probabilities = torch.softmax(torch.from_numpy(outputs), dim=-1).numpy()
        predicted = [prep.classes[i] for i in probabilities.argmax(axis=1)]
        result = pd.DataFrame({column: predicted}, index=frame.index)
        for i, name in enumerate(prep.classes):
            result[f"prob_{name}"] = probabilities[:, i]
        return result

    def evaluate(self, frame: pd.DataFrame, source: str = "the input",
                 unseen_categories: str | None = None) -> dict:
        """Metrics on labelled raw rows, computed as at the end of training.

        ``unseen_categories``: as for ``predict``.
        """
        prep = self.preprocessor
        if prep.target not in frame.columns:
            raise UserError(f"{source} has no target column '{prep.target}'; evaluation needs "
                            "labelled rows (use `trainwise predict` for unlabelled ones).")
        unlabelled = frame[prep.target].isna()
        if unlabelled.any():
            raise UserError(f"{source}: target column '{prep.target}' is empty in "
                            f"{int(unlabelled.sum())} rows; remove them to evaluate.")
        if prep.task != "classification":
            # Before transform_target, whose advice is for training data (config changes).
            numeric_column(frame, prep.target, source, training=False, target=True)
        targets = prep.transform_target(frame[prep.target], source)
        if prep.is_probabilistic:
            # Each row is one measurement, scored against the Normal predicted for it.
            return evaluate_distribution(self._distribution(frame, source, unseen_categories),
                                         targets, prep)
        outputs = self._outputs(self._features(frame, source, unseen_categories))
        return evaluate_outputs(prep, outputs, targets)

    def predict_distribution(self, frame: pd.DataFrame,
                             source: str = "the input") -> tuple[np.ndarray, np.ndarray]:
        """(mean, variance), each (N,), in the target's units, for a probabilistic run.

        Raises:
            UserError: the run does not predict distributions.
        """
        if not self.preprocessor.is_probabilistic:
            raise UserError(f"run {self.id} is a {self.preprocessor.task} run; only "
                            "task.type: probabilistic_regression predicts a mean and variance.")
        parts = self._distribution(frame, source)
        return parts["mean"], parts["variance"]

    def _distribution(self, frame: pd.DataFrame, source: str,
                      unseen_categories: str | None = None) -> dict[str, np.ndarray]:
        features = self._features(frame, source, unseen_categories)
        return predictive_parts(self.model, features, self.config.task.mc_dropout,
                                self.preprocessor)

    def _features(self, frame: pd.DataFrame, source: str,
                  unseen_categories: str | None) -> np.ndarray:
        """The model's inputs for raw rows; categories unseen in training warn or raise."""
        mode = unseen_categories or self.config.data.unseen_categories
        if mode not in ("warn", "error"):
            raise UserError(f"unseen_categories must be 'warn' or 'error', not {mode!r}")
        return self.preprocessor.transform_features(frame, source, unseen=mode)

    def _outputs(self, features: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(features)).numpy()


def evaluate_outputs(prep: Preprocessor, outputs: np.ndarray, targets: np.ndarray) -> dict:
    """Metrics from model outputs and encoded targets (as the preprocessing produced them)."""
    if prep.task == "regression":
        return regression_metrics(prep.inverse_target(targets),
                                  prep.inverse_target(outputs[:, 0]))
    # The model gives logits; precision-recall AUC needs probabilities.
    probabilities = torch.softmax(torch.from_numpy(outputs).double(), dim=-1).numpy()
    return classification_metrics(targets, outputs.argmax(axis=1), prep.classes, probabilities)


def prediction_rows(prep: Preprocessor, split: str, outputs: np.ndarray,
                    targets: np.ndarray) -> pd.DataFrame:
    """``split, actual, predicted`` per row in the target's own units (or class names)."""
    if prep.task == "regression":
        actual, predicted = prep.inverse_target(targets), prep.inverse_target(outputs[:, 0])
    else:
        actual = [prep.classes[i] for i in targets]
        predicted = [prep.classes[i] for i in outputs.argmax(axis=1)]
    return pd.DataFrame({"split": split, "actual": actual, "predicted": predicted})


def load_run(reference: str | Path, runs_dir: str | Path = "runs") -> Run:
    """Open a run by path or id (see ``resolve_run``)."""
    return Run(resolve_run(reference, runs_dir))
