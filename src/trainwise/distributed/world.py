"""The process group of a data-parallel run, as ``torchrun`` describes it in the environment.

Example:
    >>> World.from_environment({}) is None      # not started by torchrun: one process
    True
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

PID_KEY = "trainwise/process/{rank}"  # each rank's host and pid, in torchrun's store


class RankFailed(RuntimeError):
    """Another rank of a data-parallel run died or stopped answering; the message names it."""


@dataclass(frozen=True)
class World:
    """Where this process stands among the ranks ``torchrun`` started.

    Attributes:
        rank: this process's rank, 0 .. size - 1; rank 0 writes the run record.
        size: the number of processes (the world size).
        local_rank: the rank among the processes of this machine (its GPU index).
        backend: ``nccl`` when the ranks train on CUDA devices, else ``gloo``.
    """

    rank: int
    size: int
    local_rank: int
    backend: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None,
                         device: str = "auto") -> World | None:
        """The world ``torchrun`` set up, or None for a single process (world size 1 too:
        nothing would be reduced, so the ordinary single-process path trains)."""
        environ = os.environ if environ is None else environ
        size = int(environ.get("WORLD_SIZE", "1"))
        if size <= 1:
            return None
        gpus = device in ("auto", "cuda") and torch.cuda.is_available()
        return cls(rank=int(environ["RANK"]), size=size,
                   local_rank=int(environ.get("LOCAL_RANK", "0")),
                   backend="nccl" if gpus else "gloo")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @contextmanager
    def joined(self, timeout_s: float) -> Iterator[World]:
        """Join the process group for the block, and leave it after.

        ``timeout_s`` bounds every collective: a rank that stops answering for that long
        (wedged, or gone without its connection closing) fails the run instead of hanging it.
        """
        if self.backend == "nccl":
            torch.cuda.set_device(self.local_rank)  # "cuda" means this rank's own GPU
        dist.init_process_group(self.backend, timeout=timedelta(seconds=timeout_s))
        try:
            _store().set(PID_KEY.format(rank=self.rank), f"{socket.gethostname()} {os.getpid()}")
            yield self
        finally:
            dist.destroy_process_group()

    def broadcast(self, value=None):
        """Rank 0's ``value`` on every rank (plain data: dicts, lists, tensors)."""
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def explain(self, error: BaseException) -> BaseException:
        """``error`` as a ``RankFailed`` that names the rank when it came from a collective
        whose peer died or went silent; anything else is returned as it is."""
        text = str(error)
        if not isinstance(error, RuntimeError) or not any(
                sign in text for sign in ("Connection closed", "Connection reset", "Timed out",
                                          "timed out", "NCCL", "Gloo", "gloo")):
            return error
        silent = "timed out" in text.lower()
        dead = self.dead_ranks()
        if dead:
            who = ", ".join(f"rank {rank} (pid {pid} on {host})" for rank, host, pid in dead)
            return RankFailed(f"{who} of this data-parallel run died (world size {self.size}); "
                              "rank 0 stopped with it. `trainwise resume` continues from the "
                              f"last checkpoint. The collective's error: {text.splitlines()[0]}")
        if silent:
            return RankFailed(f"a rank of this data-parallel run (world size {self.size}) did "
                              "not answer within train.ddp_timeout_s: it is wedged (or its "
                              "machine is unreachable). `trainwise resume` continues from the "
                              f"last checkpoint. The collective's error: {text.splitlines()[0]}")
        return RankFailed(f"another rank of this data-parallel run (world size {self.size}) "
                          "failed or was stopped; see its own output (torchrun names it). "
                          f"The collective's error: {text.splitlines()[0]}")

    def dead_ranks(self) -> list[tuple[int, str, int]]:
        """The ranks on this machine whose process is gone: (rank, host, pid) each.

        Ranks on other machines cannot be looked at from here; torchrun's summary names them.
        """
        host = socket.gethostname()
        dead = []
        for rank in range(self.size):
            try:
                their_host, pid = _store().get(PID_KEY.format(rank=rank)).decode().split()
            except Exception:  # noqa: BLE001 -- the store went down with the launcher
                continue
            if their_host == host and not _alive(int(pid)):
                dead.append((rank, their_host, int(pid)))
        return dead


def _store():
    return dist.distributed_c10d._get_default_store()


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as dead: it has exited)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
