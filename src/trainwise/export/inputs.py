"""The preprocessing inside an exported graph: raw inputs in, the model's features out.

A table comes in as one float32 matrix (N, columns), the training columns in
``Preprocessor.input_columns`` order (numeric first, then categorical). A numeric cell holds
its raw value, NaN when missing; a categorical cell holds the category's index in that
column's vocabulary (the metadata's ``categories``), NaN when missing, and any other number
(-1 by convention) for a value never seen in training. One float matrix rather than strings:
``torch.export`` cannot take string tensors, and a single numeric matrix is what every ONNX
runtime (C, C#, Java, JavaScript, mobile) feeds most simply.

Example:
    >>> from trainwise.data.preprocess import Preprocessor
    >>> prep = Preprocessor({"x": {"median": 1.0, "mean": 0.0, "std": 2.0}},
    ...                     {"c": {"categories": ["a", "b"], "most_frequent": "b"}}, "y",
    ...                     "regression")
    >>> TableInputs(prep)(torch.tensor([[4.0, 0.0], [float("nan"), float("nan")]]))
    tensor([[2.0000, 1.0000, 0.0000],
            [0.5000, 0.0000, 1.0000]])
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from trainwise.data.preprocess import Preprocessor, numeric_column
from trainwise.errors import UserError

UNSEEN_CODE = -1.0  # what encode_rows writes for a category never seen in training


class TableInputs(nn.Module):
    """Raw rows (N, columns) -> features (N, F), as ``Preprocessor.transform_features``:
    median imputation and standardisation of numeric columns, the most frequent category for
    a missing one, one-hot (all zeros for an unseen one)."""

    def __init__(self, prep: Preprocessor):
        super().__init__()
        stats = list(prep.numeric.values())
        self.n_numeric = len(stats)
        for name in ("median", "mean", "std"):
            self.register_buffer(name, torch.tensor([s[name] for s in stats], dtype=torch.float32))
        self.vocabulary_sizes = [len(s["categories"]) for s in prep.categorical.values()]
        # A missing category becomes the most frequent one's index (-1: none, all zeros).
        fills = [_index_of(s["most_frequent"], s["categories"]) for s in prep.categorical.values()]
        self.register_buffer("fill", torch.tensor(fills, dtype=torch.float32))

    def forward(self, rows: torch.Tensor) -> torch.Tensor:  # (N, columns) -> (N, F)
        blocks = []
        if self.n_numeric:
            numeric = rows[:, :self.n_numeric]  # (N, numeric)
            numeric = torch.where(torch.isnan(numeric), self.median, numeric)
            blocks.append((numeric - self.mean) / self.std)
        for column, size in enumerate(self.vocabulary_sizes):
            code = rows[:, self.n_numeric + column]  # (N,)
            code = torch.where(torch.isnan(code), self.fill[column], code)
            categories = torch.arange(size, dtype=rows.dtype, device=rows.device)  # (K,)
            blocks.append((code.unsqueeze(1) == categories).to(rows.dtype))  # (N, K)
        return torch.cat(blocks, dim=1)


class ArrayInputs(nn.Module):
    """Raw samples (N, C, ...) -> standardised per channel, as
    ``ArrayPreprocessor.transform_features``."""

    def __init__(self, channel_mean: list[float], channel_std: list[float], spatial_dims: int):
        super().__init__()
        view = (1, -1) + (1,) * spatial_dims  # broadcast over the batch and the positions
        self.register_buffer("mean", torch.tensor(channel_mean, dtype=torch.float32).view(view))
        self.register_buffer("std", torch.tensor(channel_std, dtype=torch.float32).view(view))

    def forward(self, samples: torch.Tensor) -> torch.Tensor:  # (N, C, ...) -> same shape
        return (samples - self.mean) / self.std


def encode_rows(frame: pd.DataFrame, prep: Preprocessor, source: str = "the input") -> np.ndarray:
    """Raw rows -> the exported graph's float32 input (N, columns), see the module docstring.

    Raises:
        UserError: a training column is missing, or a numeric one holds text or infinities.
    """
    missing = [column for column in prep.input_columns if column not in frame.columns]
    if missing:
        raise UserError(f"{source} lacks the training column(s) {', '.join(missing)}; the "
                        f"exported model needs: {', '.join(prep.input_columns)}. Add them.")
    columns = []
    for column in prep.numeric:
        columns.append(numeric_column(frame, column, source, training=False).to_numpy())
    for column, stats in prep.categorical.items():
        index = {category: float(i) for i, category in enumerate(stats["categories"])}
        values = frame[column].astype("string")
        codes = [np.nan if pd.isna(value) else index.get(value, UNSEEN_CODE) for value in values]
        columns.append(np.asarray(codes, dtype=np.float64))
    return np.stack(columns, axis=1).astype(np.float32)


def _index_of(value: str, categories: list) -> int:
    return categories.index(value) if value in categories else int(UNSEEN_CODE)
