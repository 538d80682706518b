"""The three estimators: one per trainwise task, scored by scikit-learn's mixins.

Example:
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.model_selection import GridSearchCV
    >>> X, y = load_diabetes(return_X_y=True, as_frame=True)
    >>> search = GridSearchCV(TrainwiseRegressor(train__epochs=20),
    ...                       {"train__lr": [1e-3, 1e-2], "model__hidden": [[16], [64, 64]]})
    >>> search.fit(X, y).best_params_                                     # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, column_or_1d

from trainwise.sklearn.base import TrainwiseEstimator
from trainwise.sklearn.errors import EstimatorInputError


def _numeric_target(y) -> np.ndarray:
    """(N,) float64; NaN and infinity refused (a ValueError), as scikit-learn's regressors do."""
    y = check_array(y, ensure_2d=False, dtype="numeric", input_name="y")
    return column_or_1d(y, warn=True).astype(np.float64)


class TrainwiseRegressor(RegressorMixin, TrainwiseEstimator):
    """A trainwise regression run (``task.type: regression``); ``score`` is R².

    Example:
        >>> net = TrainwiseRegressor(train__epochs=50, model__hidden=[32])   # doctest: +SKIP
        >>> net.fit(X, y).predict(X[:3])                                      # doctest: +SKIP
    """

    task_type = "regression"

    def predict(self, X) -> np.ndarray:
        """(N,) predictions in the target's units."""
        columns = self._predictions(X)
        return columns[f"{self.model_.preprocessor.target}_pred"].to_numpy(dtype=np.float64)

    def _encode_target(self, y) -> np.ndarray:
        return _numeric_target(y)


class TrainwiseProbabilisticRegressor(RegressorMixin, TrainwiseEstimator):
    """A trainwise run that predicts a Normal per row (``task.type: probabilistic_regression``);
    ``predict(X, return_std=True)`` as scikit-learn's GaussianProcessRegressor; ``score`` is
    R² of the mean.

    Example:
        >>> net = TrainwiseProbabilisticRegressor(train__epochs=50)          # doctest: +SKIP
        >>> mean, std = net.fit(X, y).predict(X[:3], return_std=True)         # doctest: +SKIP
    """

    task_type = "probabilistic_regression"

    def predict(self, X, return_std: bool = False):
        """(N,) predicted means; with ``return_std``, also the (N,) standard deviations
        (aleatoric and, with MC dropout or an ensemble, epistemic), in the target's units."""
        frame = self._frame(X)  # before reading model_: it raises NotFittedError
        parts = self.model_.distribution(frame)
        mean = parts["mean"].astype(np.float64)
        return (mean, np.sqrt(parts["variance"]).astype(np.float64)) if return_std else mean

    def _encode_target(self, y) -> np.ndarray:
        return _numeric_target(y)


class TrainwiseClassifier(ClassifierMixin, TrainwiseEstimator):
    """A trainwise classification run (``task.type: classification``); ``score`` is accuracy.

    Labels may be of any type numpy can sort; the run trains on their positions in
    ``classes_``, so predictions come back as the labels given.

    Example:
        >>> net = TrainwiseClassifier(train__epochs=50)                      # doctest: +SKIP
        >>> net.fit(X, y).predict_proba(X[:3])                                # doctest: +SKIP
    """

    task_type = "classification"

    def predict_proba(self, X) -> np.ndarray:
        """(N, classes) probabilities, columns in the order of ``classes_``."""
        columns = self._predictions(X)
        probabilities = np.zeros((len(columns), len(self.classes_)))
        # A class missing from a configured training split has no output: probability 0.
        for code in self.model_.preprocessor.classes:
            probabilities[:, code] = columns[f"prob_{code}"]
        return probabilities

    def predict(self, X) -> np.ndarray:
        """(N,) the most probable label per row."""
        probabilities = self.predict_proba(X)  # before reading classes_: NotFittedError
        return self.classes_[probabilities.argmax(axis=1)]

    def _encode_target(self, y) -> np.ndarray:
        y = column_or_1d(check_array(y, ensure_2d=False, dtype=None, input_name="y"), warn=True)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise EstimatorInputError(f"y holds one class ({self.classes_[0]!r}); a classifier "
                                      "needs at least two classes to tell apart")
        return codes.astype(np.int64)
