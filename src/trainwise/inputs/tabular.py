"""Tables (CSV, Parquet, bundled datasets): rows of numeric and categorical columns.

Reading, cleaning, splitting and the fitted preprocessing live in ``trainwise.data``; a
table larger than ``data.streaming.max_memory_mb`` streams from Parquet instead of living
on the device.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from trainwise.data.prepare import PreparedData, prepare_data
from trainwise.data.preprocess import Preprocessor, numeric_column
from trainwise.data.read import read_table
from trainwise.errors import UserError
from trainwise.inputs.base import InputKind
from trainwise.training.batches import InMemoryBatches
from trainwise.training.samplers import build_sampler
from trainwise.training.stream_batches import StreamingBatches


class Tabular(InputKind):
    """One row is one sample; its features are the preprocessed columns, (features,)."""

    name = "tabular"

    def prepare(self, cfg, fitted: Preprocessor | None = None,
                refit_target: bool = True) -> PreparedData:
        return prepare_data(cfg, fitted, refit_target=refit_target)

    def input_shape(self, prep: Preprocessor) -> tuple[int, ...]:
        return (len(prep.feature_names),)

    def batches(self, data: PreparedData, cfg, device: torch.device):
        if data.streaming is not None:
            return StreamingBatches(data.streaming, cfg.train.batch_size, cfg.train.seed,
                                    device)
        x_train, y_train = (torch.from_numpy(a).to(device) for a in data.arrays["train"])
        return InMemoryBatches(x_train, y_train, cfg.train.batch_size, cfg.train.seed,
                               sampler=build_sampler(cfg.data.balance, data.arrays["train"][1]))

    def load_preprocessing(self, saved: dict) -> Preprocessor:
        return Preprocessor.from_dict(saved)

    def read(self, path: str, field: str, cfg, labelled: bool = False) -> pd.DataFrame:
        return read_table(path, field)

    def features(self, prep: Preprocessor, raw: pd.DataFrame, source: str,
                 unseen_categories: str) -> np.ndarray:
        """Rows through the saved preprocessing; unseen categories warn or raise."""
        if unseen_categories not in ("warn", "error"):
            raise UserError(f"unseen_categories must be 'warn' or 'error', not "
                            f"{unseen_categories!r}")
        return prep.transform_features(raw, source, unseen=unseen_categories)

    def targets(self, prep: Preprocessor, raw: pd.DataFrame, source: str) -> np.ndarray:
        """The target column, encoded; every row must have one."""
        if prep.target not in raw.columns:
            raise UserError(f"{source} has no target column '{prep.target}'; evaluation needs "
                            "labelled rows (use `trainwise predict` for unlabelled ones).")
        unlabelled = raw[prep.target].isna()
        if unlabelled.any():
            raise UserError(f"{source}: target column '{prep.target}' is empty in "
                            f"{int(unlabelled.sum())} rows; remove them to evaluate.")
        if prep.task != "classification":
            # Before transform_target, whose advice is for training data (config changes).
            numeric_column(raw, prep.target, source, training=False, target=True)
        return prep.transform_target(raw[prep.target], source)

    def index(self, raw: pd.DataFrame) -> pd.Index:
        return raw.index

    def identify(self, raw: pd.DataFrame) -> pd.DataFrame:
        return raw
