"""Ctrl-C ends training at the end of the current batch instead of killing it mid-write."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager

from trainwise.training.state import TrainState


@contextmanager
def stop_on_interrupt(state: TrainState):
    """While active, the first SIGINT/SIGTERM sets ``state.interrupted``; a second SIGINT aborts.

    Outside the main thread (where Python allows no signal handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum, frame):
        if state.interrupted and signum == signal.SIGINT:
            raise KeyboardInterrupt
        state.interrupted = True
        print("\nStopping after this batch and saving a checkpoint "
              "(press Ctrl-C again to abort without saving).", file=sys.stderr)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
