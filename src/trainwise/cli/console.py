"""The rich console every subcommand prints through."""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator

import click
from rich.console import Console

# Off a terminal (pipes, logs, CI) there is no width to detect; wide tables beat wrapped ones.
PIPED_WIDTH = 160


def make_console() -> Console:
    return Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)


@contextlib.contextmanager
def echo_warnings(category: type[Warning]) -> Iterator[None]:
    """Print warnings of ``category`` raised inside as 'Warning: ...' lines on stderr.

    Python's own display shows the file and line that warned, which means nothing to a user
    at the shell; other warnings pass through untouched.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", category)
        yield
    for warning in caught:
        if issubclass(warning.category, category):
            click.echo(f"Warning: {warning.message}", err=True)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno, source=warning.source)
