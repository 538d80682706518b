"""Ctrl-C and SIGTERM end training after the current step instead of killing it mid-write."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from trainwise.training.state import TrainState


@dataclass
class ReceivedSignal:
    """The signal that asked training to stop, once one has (None before)."""

    signum: int | None = None

    @property
    def name(self) -> str | None:
        return None if self.signum is None else signal.Signals(self.signum).name


@contextmanager
def stop_on_interrupt(state: TrainState) -> Iterator[ReceivedSignal]:
    """While active, the first SIGINT or SIGTERM sets ``state.interrupted`` (the loop then
    ends after the current step and writes ``last.pt``); a second SIGINT raises
    ``KeyboardInterrupt`` at once.

    Outside the main thread (where Python allows no signal handlers) this does nothing.

    Yields:
        The ``ReceivedSignal``, filled in when a signal arrives.
    """
    received = ReceivedSignal()
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def request_stop(signum, frame):
        if state.interrupted and signum == signal.SIGINT:
            raise KeyboardInterrupt
        state.interrupted = True
        received.signum = signum
        state.stop_reason = f"stopped by {received.name}"
        print(f"\n{received.name}: stopping after this step and saving a checkpoint "
              "(press Ctrl-C again to end at once; the run still resumes).", file=sys.stderr)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
