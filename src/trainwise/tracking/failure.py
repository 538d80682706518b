"""How a run that raised is recorded: its status, the reason in words, and what to raise.

Every exception out of training ends the run in a recorded state, never ``running``:

- a second Ctrl-C (``KeyboardInterrupt``) leaves it ``interrupted``: ``last.pt`` is as the
  last write left it, so it resumes;
- a disk that is full or fails, or a run directory that cannot be written, is the user's to
  fix: ``failed``, and a ``UserError`` naming the file, the last good checkpoint and the fix;
- a ``UserError`` raised while training (e.g. a callback's) is ``failed`` with its message;
- anything else is ``failed`` too, its traceback written to ``error.log`` in the run, and a
  ``RunFailed`` that names the log is raised instead of the bare exception.
"""

from __future__ import annotations

import errno
import traceback
from dataclasses import dataclass
from pathlib import Path

from trainwise.errors import RunFailed, UserError

ERROR_LOG = "error.log"
# The errors a user fixes on their machine, not in trainwise: no space, a failing disk,
# no permission, a read-only file system.
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EACCES, errno.EPERM, errno.EROFS}


@dataclass
class Failure:
    """What to record and raise for an exception that ended training."""

    status: str  # "interrupted" or "failed"
    reason: str  # one line, for status.json, the store and the dashboard
    raised: BaseException  # the exception to raise (the original one, or its replacement)


def classify(error: BaseException, run_path: Path, run_id: str) -> Failure:
    """The ``Failure`` for ``error``, which ended training of the run at ``run_path``.

    Writes ``error.log`` for an unexpected error (best effort: the disk may be the problem).
    """
    if isinstance(error, KeyboardInterrupt):
        return Failure("interrupted", "ended at once by a second Ctrl-C", error)
    if isinstance(error, OSError) and error.errno in WRITE_ERRORS:
        message = _write_error_message(error, run_path, run_id)
        return Failure("failed", message, UserError(message))
    if isinstance(error, UserError):
        return Failure("failed", str(error), error)
    if not isinstance(error, Exception):  # SystemExit, GeneratorExit: not ours to replace
        return Failure("failed", f"{type(error).__name__}", error)
    reason = f"{type(error).__name__}: {error}".splitlines()[0]
    log = run_path / ERROR_LOG
    try:
        log.write_text("".join(traceback.format_exception(error)))
        where = f"the traceback is in {log}"
    except OSError:
        where = "the traceback could not be written to the run directory"
    message = (f"run {run_id} failed: {reason}. {where}; the run is marked failed. This is "
               f"not a problem with your input that trainwise recognises: if it persists, "
               f"report it with that log. Once fixed, `trainwise resume {run_id}` continues "
               "from the last checkpoint.")
    return Failure("failed", reason, RunFailed(message, run_id, log))


def _write_error_message(error: OSError, run_path: Path, run_id: str) -> str:
    target = error.filename or run_path
    last = run_path / "checkpoints" / "last.pt"
    previous = last.with_name("last.prev.pt")
    kept = next((path for path in (last, previous) if path.is_file()), None)
    checkpoint = (f"The last good checkpoint, '{kept}', is intact" if kept else
                  "No checkpoint had been written yet, so a resume trains the run again from "
                  "epoch 0 (with the same result)")
    return (f"could not write '{target}' while training run {run_id}: {error.strerror}. "
            f"{checkpoint}. Free disk space (or make the run directory writable) and run "
            f"`trainwise resume {run_id}`.")
