"""The error the estimators raise for bad input: a ``UserError`` that is also a ``ValueError``.

scikit-learn's own code and its estimator checks expect a ``ValueError`` for bad data or an
unknown parameter (``GridSearchCV`` reports it, ``check_estimator`` asserts it); trainwise's
callers catch ``UserError``. One class is both, so neither side needs to know the other.
"""

from trainwise.errors import UserError


class EstimatorInputError(UserError, ValueError):
    """Bad data, labels or parameters given to a trainwise estimator, explained with the fix.

    Example:
        >>> raise EstimatorInputError("y holds a single class; a classifier needs two")
        Traceback (most recent call last):
        ...
        trainwise.sklearn.errors.EstimatorInputError: y holds a single class; a classifier needs two
    """
