"""The one exception type for mistakes a user can fix.

Every ``UserError`` carries a message that names the file, field or column at fault and the
fix. The CLI prints it without a traceback and exits with code 2; the Python API lets it
propagate so notebooks see the same message.
"""


class UserError(Exception):
    """A problem with the user's config, data or files, explained with its fix.

    Example:
        >>> raise UserError("data.target: column 'mpgg' not found in auto-mpg.csv; "
        ...                 "columns are: mpg, cylinders. Fix the name in the config.")
        Traceback (most recent call last):
        ...
        trainwise.errors.UserError: data.target: column 'mpgg' not found ...
    """


class RunFailed(Exception):
    """Training raised something that is not the user's mistake; the run is marked ``failed``.

    The CLI prints the message (the reason and where the traceback is) and exits with code 1.

    Attributes:
        run_id: the run.
        log_path: the file holding the full traceback.
    """

    def __init__(self, message: str, run_id: str, log_path):
        super().__init__(message)
        self.run_id = run_id
        self.log_path = log_path


class UnseenCategoryWarning(UserWarning):
    """Rows to predict for hold a category the model never saw in training.

    Such a value is encoded as no known category (all zeros), so its predictions rest on the
    other columns alone. ``data.unseen_categories: error`` turns this into a ``UserError``.
    """
