"""``--nproc N``: start the same command under ``torchrun`` with N processes on this machine."""

from __future__ import annotations

import os
import subprocess
import sys


def relaunch_with_torchrun(nproc: int, command: list[str]) -> int:
    """Run ``trainwise COMMAND`` as ``torchrun --standalone --nproc_per_node=N -m trainwise
    COMMAND`` and return its exit code.

    ``--standalone`` picks a free local rendezvous; torchrun forwards Ctrl-C and SIGTERM to
    every rank (they stop together after a step, rank 0 checkpoints) and names a rank that
    died in its summary.
    """
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone",
              f"--nproc_per_node={nproc}", "-m", "trainwise", *command]
    process = subprocess.Popen(launch)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:  # the terminal sent Ctrl-C to torchrun too; wait for it
            continue


def without_nproc(argv: list[str]) -> list[str]:
    """The command line after ``trainwise``, minus ``--nproc N`` / ``--nproc=N``.

    Example:
        >>> without_nproc(["train", "c.yaml", "--nproc", "2", "--epochs", "5"])
        ['train', 'c.yaml', '--epochs', '5']
    """
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def is_rank() -> bool:
    """Whether this process is one rank of a torchrun launch."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def exit_rank(code: int) -> None:
    """End a data-parallel rank without Python's and C++'s exit-time clean-up.

    torch's gloo threads can abort a process during interpreter shutdown ("terminate called
    without an active exception"), which torchrun reports as a failed run although its
    record is complete; the run's files are all written and closed by now.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
