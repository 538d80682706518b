"""What showing progress costs: ``trainwise.fit`` on the Auto MPG tutorial with progress off,
as plain log lines, as a terminal bar, and as a notebook's live curve.

    python benchmarks/progress_overhead.py [--repeats 7] [--epochs 300] [--threads 1]

Early stopping is off, so every repeat trains all ``--epochs``. The four modes run
round-robin, so background load falls on all alike; the table gives each mode's median
against the median with progress off, on both clocks: wall time is what a user waits, CPU
time (this process's) is what other processes on a shared machine disturb far less. How
each mode is reached:

- lines: stderr is a file (``io.StringIO``), as in a log file or CI;
- bar: stderr is a pseudo-terminal (tqdm draws), read by a thread as a terminal would;
- notebook: IPython's ``get_ipython`` and ``display`` are faked, as a Jupyter kernel would
  give them; the figure is really drawn and its PNG bytes made, only not sent anywhere.

On a shared machine two identical fits differ by more than 1 %, so the progress callback's
own hooks are also timed, each call (``hooks``): that share of the fit is the overhead
measured without the noise.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import threading
import time
import types
from contextlib import contextmanager
from pathlib import Path

import torch

import trainwise
from trainwise.callbacks.progress import ProgressBar

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "auto_mpg.yaml"
MODES = ("off", "lines", "bar", "notebook")
HOOKS = ("on_train_begin", "on_epoch_end", "on_train_end", "log_record")
hook_seconds = [0.0]  # time inside ProgressBar's hooks during the current fit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    time_hooks()
    times = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="trainwise-progress-") as runs_dir:
        for mode in MODES:  # untimed: imports and first-call set-up
            fit_seconds(mode, runs_dir, 5)
        for _ in range(args.repeats):
            for mode in MODES:
                times[mode].append(fit_seconds(mode, runs_dir, args.epochs))
    print_table(times, args)
    return 0


def fit_seconds(mode: str, runs_dir: str, epochs: int) -> tuple[float, float, float]:
    """Wall and CPU seconds of one ``trainwise.fit`` in ``mode``, and the wall seconds
    spent in the progress callback's hooks."""
    overrides = {"train.epochs": epochs, "train.early_stopping.enabled": False}
    hook_seconds[0] = 0.0
    with showing(mode):
        wall, cpu = time.perf_counter(), time.process_time()
        trainwise.fit(EXAMPLE, overrides, runs_dir=runs_dir, progress=mode != "off")
        return time.perf_counter() - wall, time.process_time() - cpu, hook_seconds[0]


def time_hooks() -> None:
    """Wrap each of ProgressBar's hooks to add its wall time to ``hook_seconds``."""
    def timed(method):
        def call(*args):
            started = time.perf_counter()
            try:
                return method(*args)
            finally:
                hook_seconds[0] += time.perf_counter() - started
        return call

    for hook in HOOKS:
        setattr(ProgressBar, hook, timed(getattr(ProgressBar, hook)))


@contextmanager
def showing(mode: str):
    """stderr (and IPython) as ``mode`` finds them."""
    if mode == "bar":
        with terminal_stderr():
            yield
    elif mode == "notebook":
        with fake_notebook(), swapped_stderr(io.StringIO()):
            yield
    else:
        with swapped_stderr(io.StringIO()):
            yield


@contextmanager
def swapped_stderr(stream):
    saved, sys.stderr = sys.stderr, stream
    try:
        yield
    finally:
        sys.stderr = saved


@contextmanager
def terminal_stderr():
    """stderr on a pseudo-terminal, drained by a thread (a full one would block tqdm)."""
    leader, follower = os.openpty()
    drain = threading.Thread(target=_drain, args=(leader,), daemon=True)
    drain.start()
    with os.fdopen(follower, "w") as stream, swapped_stderr(stream):
        yield
    drain.join(timeout=1)
    os.close(leader)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except OSError:  # the terminal closed
        pass


@contextmanager
def fake_notebook():
    """``IPython`` as a Jupyter kernel shows it to ``in_notebook`` and ``NotebookCurve``."""
    class Handle:
        def update(self, obj) -> None:
            pass

    kernel = type("ZMQInteractiveShell", (), {})
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = kernel
    display = types.ModuleType("IPython.display")
    display.HTML = display.Image = lambda *args, **kwargs: (args, kwargs)
    display.display = lambda obj, display_id: Handle()
    saved = {name: sys.modules.get(name) for name in ("IPython", "IPython.display")}
    sys.modules.update({"IPython": ipython, "IPython.display": display})
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def print_table(times: dict[str, list[tuple[float, float]]], args) -> None:
    base = [statistics.median(run[clock] for run in times["off"]) for clock in (0, 1)]
    print(f"trainwise.fit, {EXAMPLE.name}, {args.epochs} epochs, {args.threads} thread(s), "
          f"median of {args.repeats}:")
    print("| progress | wall s | wall overhead | CPU s | CPU overhead | in hooks, ms | "
          "hooks / fit |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for mode, runs in times.items():
        wall, cpu, hooks = (statistics.median(run[clock] for run in runs) for clock in (0, 1, 2))
        share = statistics.median(run[2] / run[0] for run in runs)
        print(f"| {mode} | {wall:.3f} | {100 * (wall / base[0] - 1):+.1f} % | {cpu:.3f} | "
              f"{100 * (cpu / base[1] - 1):+.1f} % | {1000 * hooks:.2f} | {100 * share:.2f} % |")


if __name__ == "__main__":
    sys.exit(main())
