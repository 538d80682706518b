"""SMOTE: synthetic minority rows for the training split, made once after preprocessing.

Each synthetic row lies on the segment between a minority row and one of its nearest
same-class neighbours (imbalanced-learn's ``SMOTE``), in the preprocessed feature space. Every
class is filled up to the largest class's count. Validation and test rows are never touched:
they must measure the model on real rows with their real class ratios.
"""

from __future__ import annotations

import numpy as np

from trainwise.data.preprocess import Preprocessor
from trainwise.errors import UserError


def add_smote_rows(features: np.ndarray, targets: np.ndarray, prep: Preprocessor,
                   neighbors: int, seed: int) -> tuple[tuple[np.ndarray, np.ndarray], dict]:
    """The training rows with synthetic minority rows appended, and what was added.

    Args:
        features: (N, F) float32 preprocessed training features.
        targets: (N,) class indices.
        prep: the fitted preprocessing (class names; which columns are one-hot blocks).
        neighbors: ``data.smote_neighbors``; lowered to the smallest minority class's count
            minus one when that class is smaller.
        seed: seeds the choice of rows and neighbours, so a resumed run gets the same rows.

    Returns:
        ``((features, targets), record)``: the original rows first, then the synthetic ones;
        ``record`` holds ``rows_added``, ``rows_added_by_class`` and ``neighbors`` used.

    Raises:
        UserError: a class with fewer than 2 training rows (nothing to interpolate between).
    """
    from imblearn.over_sampling import SMOTE  # imported here: it is slow to import

    counts = np.bincount(targets, minlength=len(prep.classes))
    present = counts[counts > 0]
    if len(present) < 2 or present.min() == present.max():
        return (features, targets), _record(prep, counts, counts, neighbors)
    minority = counts[(counts > 0) & (counts < counts.max())].min()
    if minority < 2:
        small = [str(name) for name, count in zip(prep.classes, counts) if count == 1]
        raise UserError(f"data.balance: smote needs at least 2 training rows per class to "
                        f"interpolate between, but class(es) {', '.join(small)} have 1. Use "
                        "data.balance: oversample instead, or add rows of that class.")
    used = min(neighbors, int(minority) - 1)
    new_features, new_targets = SMOTE(k_neighbors=used, random_state=seed).fit_resample(
        features, targets)
    new_features = new_features.astype(np.float32)
    _snap_one_hot(new_features[len(features):], prep)
    after = np.bincount(new_targets, minlength=len(prep.classes))
    return (new_features, new_targets.astype(targets.dtype)), _record(prep, counts, after, used)


def _snap_one_hot(synthetic: np.ndarray, prep: Preprocessor) -> None:
    """Interpolating one-hot columns gives fractions; give each row its nearest category.

    Standardised numeric columns come first, then one block of 0/1 columns per categorical
    column (see ``Preprocessor.feature_names``); changed in place.
    """
    start = len(prep.numeric)
    for stats in prep.categorical.values():
        stop = start + len(stats["categories"])
        if stop > start and len(synthetic):
            block = synthetic[:, start:stop]
            chosen = block.argmax(axis=1)
            block[:] = 0.0
            block[np.arange(len(block)), chosen] = 1.0
        start = stop


def _record(prep: Preprocessor, before: np.ndarray, after: np.ndarray, neighbors: int) -> dict:
    added = after - before
    return {
        "rows_added": int(added.sum()),
        "rows_added_by_class": {str(name): int(n) for name, n in zip(prep.classes, added)},
        "train_rows_after": int(after.sum()),
        "neighbors": neighbors,
        "applied_to": "training split only; validation and test rows are untouched",
    }
