"""The rich console every subcommand prints through."""

from __future__ import annotations

import sys

from rich.console import Console

# Off a terminal (pipes, logs, CI) there is no width to detect; wide tables beat wrapped ones.
PIPED_WIDTH = 160


def make_console() -> Console:
    return Console(width=None if sys.stdout.isatty() else PIPED_WIDTH)
