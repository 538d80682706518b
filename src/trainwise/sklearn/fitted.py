"""A trained model held in memory: what a fitted estimator keeps of its run.

A ``Run`` reads its folder; an estimator must outlive that folder (a temporary one is gone
after ``fit``) and survive ``pickle``, so it keeps the run's three records as plain data: the
resolved config (a dict), the preprocessing (its JSON dict) and the weights (safetensors
bytes). The model is rebuilt from them on first use, as ``Run.model`` rebuilds it from files.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load as load_weights

from trainwise.config.load import load_config
from trainwise.config.schema import Config
from trainwise.data.preprocess import Preprocessor
from trainwise.inputs.registry import input_kind_for
from trainwise.models.build import build_model
from trainwise.run import MODEL_FILE, Run
from trainwise.tasks.registry import task_for
from trainwise.training.checkpoint import load_weights_into

CACHED = ("cfg", "preprocessor", "model")  # rebuilt from the records, never pickled


class FittedModel:
    """The config, preprocessing and weights of a finished run, and predictions from them.

    Example:
        >>> fitted = FittedModel.from_run(run)                   # doctest: +SKIP
        >>> fitted.predict(frame)["target_pred"]                 # doctest: +SKIP
    """

    def __init__(self, config: dict, preprocessing: dict, weights: bytes):
        self.config = config  # the run's resolved config.yaml, as a dict
        self.preprocessing = preprocessing  # preprocessing.json
        self.weights = weights  # model.safetensors

    @classmethod
    def from_run(cls, run: Run) -> FittedModel:
        return cls(run.config.model_dump(mode="json"), run.run_dir.read_json("preprocessing.json"),
                   run.run_dir.file(MODEL_FILE).read_bytes())

    def __getstate__(self) -> dict:
        return {key: value for key, value in vars(self).items() if key not in CACHED}

    @cached_property
    def cfg(self) -> Config:
        return load_config(self.config)

    @cached_property
    def preprocessor(self) -> Preprocessor:
        return input_kind_for(self.cfg.data.kind).load_preprocessing(self.preprocessing)

    @cached_property
    def model(self) -> torch.nn.Module:
        """The trained network on the CPU, in eval mode."""
        prep, task = self.preprocessor, task_for(self.cfg.task.type)
        model = build_model(self.cfg.model, input_kind_for(self.cfg.data.kind).input_shape(prep),
                            prep.n_outputs, task.probabilistic)
        load_weights_into(model, load_weights(self.weights), "the fitted estimator's weights")
        return model.eval()

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The task's prediction columns (``<target>_pred``, ``prob_<class>``...) per row."""
        return task_for(self.cfg.task.type).predict(self.model, self._features(frame),
                                                     self.preprocessor, self.cfg)

    def distribution(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Mean and variance (and their parts) per row, for a probabilistic model."""
        return task_for(self.cfg.task.type).distribution(self.model, self._features(frame),
                                                          self.preprocessor, self.cfg)

    def _features(self, frame: pd.DataFrame) -> np.ndarray:
        inputs = input_kind_for(self.cfg.data.kind)
        return inputs.features(self.preprocessor, frame, "X", self.cfg.data.unseen_categories)
