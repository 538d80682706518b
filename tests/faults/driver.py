"""Test-only driver: run the trainwise CLI and SIGKILL (or pause) it at one chosen moment.

The fault harness runs this file with the project's Python instead of the ``trainwise``
command when a kill must land at an exact point of the program rather than at a time:

    python driver.py train CONFIG --runs-dir DIR --quiet       # TRAINWISE_FAULT='{...}'

``TRAINWISE_FAULT`` is a JSON object (``harness.Fault`` as a dict):

- ``kind: write``: the ``at``-th atomic write of a file whose name matches ``pattern``
  (``*.pt``: checkpoints). ``phase`` says where in that write the process dies:
  ``partial`` (half the bytes in the temporary file), ``complete`` (all bytes written and
  fsync'ed, not yet renamed), ``swapped`` (just after ``before_replace``, where the previous
  checkpoint has been moved aside, before the new one is renamed into place) or ``renamed``
  (right after the rename).
- ``kind: validation``: the ``at``-th validation pass (a single run's or a batched sweep's),
  ``phase`` ``before`` or ``after`` it computed the values; ``pause`` makes the file
  ``marker`` and waits there until it is deleted (at most ``pause_s`` seconds) instead of
  dying, to hold a run in training while another process acts.
- ``kind: begin``: right after the ``at``-th ``Session.begin`` (the run is marked running,
  before any epoch and so before the first checkpoint).

Nothing in the product changes for this: the hooks wrap product functions in this process
only.
"""

from __future__ import annotations

import fnmatch
import inspect
import io
import json
import os
import signal
import sys
import time

FAULT = json.loads(os.environ["TRAINWISE_FAULT"])
_seen = 0


def _die() -> None:
    """SIGKILL this process: no handler, no cleanup, no flush of anything but our own output."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _due() -> bool:
    """Whether this occurrence of the hooked event is the chosen one (1-based)."""
    global _seen
    _seen += 1
    return _seen == FAULT["at"]


def _act() -> None:
    """Die, or (phase ``pause``) make ``marker`` and hold still until it is deleted (at most
    ``pause_s`` seconds)."""
    if FAULT.get("phase") != "pause":
        _die()
    marker = FAULT["marker"]
    open(marker, "w").close()
    deadline = time.monotonic() + FAULT["pause_s"]
    while os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)


def _hooked_write_atomic(original):
    """``write_atomic`` that dies at the chosen write, in the chosen phase."""
    signature = inspect.signature(original)

    def write_atomic(path, write, *args, **kwargs):
        name = os.path.basename(str(path))
        if not fnmatch.fnmatch(name, FAULT["pattern"]) or not _due():
            return original(path, write, *args, **kwargs)
        phase = FAULT["phase"]
        if phase == "renamed":
            original(path, write, *args, **kwargs)
            _die()
        if phase == "partial":
            def torn(handle):
                buffer = io.BytesIO()
                write(buffer)
                data = buffer.getvalue()
                handle.write(data[:max(1, len(data) // 2)])
                handle.flush()
                os.fsync(handle.fileno())  # the torn bytes really are on disk
                _die()
            return original(path, torn, *args, **kwargs)
        if phase == "complete" or "before_replace" not in signature.parameters:
            # A core without before_replace has nothing between fsync and rename.
            def whole(handle):
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
                _die()
            return original(path, whole, *args, **kwargs)
        bound = signature.bind(path, write, *args, **kwargs)
        inner = bound.arguments.get("before_replace")

        def swap_then_die():
            if inner is not None:
                inner()
            _die()

        bound.arguments["before_replace"] = swap_then_die
        return original(*bound.args, **bound.kwargs)

    return write_atomic


def _install_write_hook() -> None:
    """Wrap ``trainwise.atomic.write_atomic`` and every copy imported by name."""
    from trainwise import atomic

    original = atomic.write_atomic
    hooked = _hooked_write_atomic(original)
    atomic.write_atomic = hooked
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("trainwise") and \
                getattr(module, "write_atomic", None) is original:
            module.write_atomic = hooked


def _wrap_method(owner, name: str, after: bool) -> None:
    """Make ``owner.name`` act (die or pause) at the chosen call, before or after running."""
    original = getattr(owner, name)

    def hooked(self, *args, **kwargs):
        if not _due():
            return original(self, *args, **kwargs)
        if not after:
            _act()
            return original(self, *args, **kwargs)
        result = original(self, *args, **kwargs)
        _act()
        return result

    setattr(owner, name, hooked)


def _install_validation_hook() -> None:
    from trainwise.sweep.batched import BatchedTraining
    from trainwise.training.trainer import Trainer

    after = FAULT.get("phase") != "before"
    _wrap_method(Trainer, "_validation_values", after)
    _wrap_method(BatchedTraining, "_validate", after)


def _install_begin_hook() -> None:
    from trainwise.session import Session

    _wrap_method(Session, "begin", after=True)


def main() -> None:
    # Import what the hooks wrap first, so every module that copies a name sees the wrapper.
    import trainwise.session
    import trainwise.sweep
    import trainwise.training.checkpoint  # noqa: F401
    from trainwise.cli.main import cli

    install = {"write": _install_write_hook, "validation": _install_validation_hook,
               "begin": _install_begin_hook}[FAULT["kind"]]
    install()
    cli.main(args=sys.argv[1:], prog_name="trainwise")


if __name__ == "__main__":
    main()
