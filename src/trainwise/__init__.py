"""trainwise: train neural networks on your own data from one YAML file.

Example:
    >>> import trainwise
    >>> run = trainwise.fit("examples/auto_mpg.yaml", train__epochs=50)   # doctest: +SKIP
    >>> run.history[-1]["val_loss"], run.metrics["test"]["mae"]           # doctest: +SKIP
    >>> trainwise.load_run(run.path).predict(new_rows)                    # doctest: +SKIP
"""

from importlib import import_module

__version__ = "0.1.0"

# Public API -> the module that defines it. Imported on first use, so `trainwise --help`
# and `trainwise runs` start without loading torch or pandas.
_EXPORTS = {
    "fit": "trainwise.session",
    "resume": "trainwise.resume_run",
    "Run": "trainwise.run",
    "load_run": "trainwise.run",
    "Config": "trainwise.config.schema",
    "load_config": "trainwise.config.load",
    "UserError": "trainwise.errors",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'trainwise' has no attribute {name!r}")
