"""scikit-learn estimators that train trainwise runs: fit, predict, search and pipe them.

Parameters are config keys with ``__`` for dots (``train__lr``, ``model__hidden``), so
``GridSearchCV`` and ``Pipeline`` reach any config key; see ``TrainwiseEstimator``.

Example:
    >>> from trainwise.sklearn import TrainwiseClassifier
    >>> from sklearn.datasets import load_wine
    >>> X, y = load_wine(return_X_y=True)
    >>> TrainwiseClassifier(train__epochs=30).fit(X, y).score(X, y)      # doctest: +SKIP
"""

from trainwise.sklearn.base import TrainwiseEstimator
from trainwise.sklearn.errors import EstimatorInputError
from trainwise.sklearn.estimators import (TrainwiseClassifier, TrainwiseProbabilisticRegressor,
                                          TrainwiseRegressor)
from trainwise.sklearn.fitted import FittedModel

__all__ = ["EstimatorInputError", "FittedModel", "TrainwiseClassifier", "TrainwiseEstimator",
           "TrainwiseProbabilisticRegressor", "TrainwiseRegressor"]
