"""``--nproc N``: start the same command under ``torchrun`` with N processes on this machine."""

from __future__ import annotations

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
