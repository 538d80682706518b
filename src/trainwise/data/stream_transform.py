"""A chunk of raw Parquet rows -> model inputs, with the run's fitted ``Preprocessor``.

Streaming workers spend most of their time here, so numeric columns stored as numbers skip
pandas: they are imputed and standardised with numpy, with the very operations of
``Preprocessor.transform_features`` (float64 arithmetic, then float32), so the values are the
same to the bit. Anything else (categories, numbers stored as text, classes) goes through the
``Preprocessor`` itself, which also words the errors.

Example:
    >>> import pyarrow as pa
    >>> prep = Preprocessor({"x": {"median": 1.0, "mean": 2.0, "std": 2.0}}, {}, "y", "regression")
    >>> batch = pa.RecordBatch.from_pydict({"x": [4.0, None], "y": [1.0, 2.0]})
    >>> features, targets = ChunkTransform(prep).arrays(batch, first_row=0, source="t")
    >>> features.ravel().tolist(), targets.tolist()
    ([1.0, -0.5], [1.0, 2.0])
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa

from trainwise.data.preprocess import Preprocessor


class ChunkTransform:
    """Turns Arrow record batches into ``(features (N, F) float32, targets (N,))``.

    Args:
        preprocessor: the run's fitted preprocessing.
        na_values: extra strings that mean "missing" (``data.na_values``).
    """

    def __init__(self, preprocessor: Preprocessor, na_values: list[str] = ()):
        self.prep = preprocessor
        self.na_values = list(na_values)
        stats = preprocessor.numeric.values()
        self.median = np.array([s["median"] for s in stats], dtype=np.float64)  # (K,)
        self.mean = np.array([s["mean"] for s in stats], dtype=np.float64)
        self.std = np.array([s["std"] for s in stats], dtype=np.float64)
        # Only the categorical side is left to pandas on the fast path.
        self.categories_only = replace(preprocessor, numeric={})

    def arrays(self, batch: pa.RecordBatch, first_row: int,
               source: str) -> tuple[np.ndarray, np.ndarray]:
        """The chunk's rows that have a target, as model inputs and targets.

        Args:
            batch: raw rows with the input and target columns.
            first_row: the file row number of the batch's first row (for error messages).
            source: names the file in error messages.

        Raises:
            UserError: text in a numeric column, or a class the preprocessing has not seen.
        """
        index = pd.RangeIndex(first_row, first_row + batch.num_rows)
        target = self._missing_as_na(batch.column(self.prep.target).to_pandas().set_axis(index))
        keep = target.notna().to_numpy()
        if not keep.all():
            batch, target = batch.filter(pa.array(keep)), target[keep]
        targets = self.prep.transform_target(target.rename(self.prep.target), source)
        if not self._numbers_stored_as_numbers(batch):
            frame = self._missing_as_na(batch.to_pandas().set_axis(target.index))
            return self.prep.transform_features(frame, source), targets
        blocks = [self._numeric(batch)]
        if self.prep.categorical:
            frame = batch.select(list(self.prep.categorical)).to_pandas().set_axis(target.index)
            blocks.append(self.categories_only.transform_features(self._missing_as_na(frame),
                                                                  source))
        return np.hstack(blocks) if len(blocks) > 1 else blocks[0], targets

    def _numbers_stored_as_numbers(self, batch: pa.RecordBatch) -> bool:
        schema = batch.schema
        return all(pa.types.is_integer(schema.field(c).type) or
                   pa.types.is_floating(schema.field(c).type) for c in self.prep.numeric)

    def _numeric(self, batch: pa.RecordBatch) -> np.ndarray:
        """(N, K) float32: missing -> training median, then (x - mean) / std, as the
        Preprocessor does it (float64, then float32)."""
        if not self.prep.numeric:
            return np.zeros((batch.num_rows, 0), dtype=np.float32)
        values = np.column_stack([batch.column(c).to_numpy(zero_copy_only=False)
                                  for c in self.prep.numeric]).astype(np.float64)  # (N, K)
        values = np.where(np.isnan(values), self.median, values)
        return ((values - self.mean) / self.std).astype(np.float32)

    def _missing_as_na(self, values):
        return values.replace(self.na_values, pd.NA) if self.na_values else values
