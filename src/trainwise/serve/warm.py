"""The report modules the dashboard loads lazily (matplotlib, scipy: seconds), imported once.

The server imports them in the background at start-up, so the first run page does not wait
for them. Two threads importing one package whose modules import each other can see it half
initialised (a KeyError or ImportError in one of them), so every import of them goes through
``load_reports``, under one lock: a page opened during the warm-up waits for it instead.
"""

from __future__ import annotations

import threading
from importlib import import_module

MODULES = ("trainwise.reports", "trainwise.reports.confusion", "trainwise.diagnostics")
_lock = threading.Lock()


def load_reports() -> None:
    """Import ``MODULES`` (at once when they are loaded; else after the thread loading them)."""
    with _lock:
        for name in MODULES:
            import_module(name)
