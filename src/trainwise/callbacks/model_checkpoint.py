"""Best and last checkpoints: the best epoch's weights, and everything needed to resume."""

from __future__ import annotations

import time
from pathlib import Path

from trainwise.callbacks.base import Callback
from trainwise.callbacks.monitor import Monitor
from trainwise.training.checkpoint import save_checkpoint


class ModelCheckpoint(Callback):
    """Writes ``best.pt`` (the weights of the epoch where ``monitor`` was best) and ``last.pt``
    (everything needed to resume), each at most every few seconds.

    ``last.pt`` grows with the history it carries, so rewriting it after every epoch of a
    short epoch costs more than the epoch itself; it is written (the one it replaces kept as
    ``last.prev.pt``) when ``last_every_s`` have
    passed since the previous write, after the final epoch, and on an interrupt, so a resume
    is always exact and a crash loses at most ``last_every_s`` seconds of training. The best
    weights are copied in memory when ``monitor`` improves and written with the same rhythm
    (a run that improves every epoch would otherwise write a file every epoch): ``best.pt``
    is never older than ``last.pt``, and always final when training ends.

    ``last.pt`` holds the trainer's whole state (see ``Trainer.checkpoint_state``), so put this
    callback last: the other callbacks' counters must be updated before it is written. It is
    also written when training is interrupted in the middle of an epoch.

    Args:
        folder: where the files go.
        monitor, mode: the value that decides "best".
        save_best, save_last: which files to keep.
        last_every_s: least seconds between two writes of ``last.pt``, or of ``best.pt``
            (0: every epoch).

    Attributes:
        clock: decides which epochs are due a write (``WriteClock``); the members of a
            batched sweep share one, so they all checkpoint the same epochs.
    """

    def __init__(self, folder: str | Path, monitor: str = "val_loss", mode: str = "auto",
                 save_best: bool = True, save_last: bool = True, last_every_s: float = 0.0):
        self.folder = Path(folder)
        self.watch = Monitor(monitor, mode)
        self.save_best = save_best
        self.save_last = save_last
        self.clock = WriteClock(last_every_s)
        self._best: dict | None = None  # best.pt's content, until it is written

    @property
    def best_path(self) -> Path:
        return self.folder / "best.pt"

    @property
    def last_path(self) -> Path:
        return self.folder / "last.pt"

    def on_train_begin(self, trainer) -> None:
        if trainer.state.epoch == 0:
            self.watch.reset()
        self._best = None
        self.clock.start()

    def on_epoch_end(self, trainer, record: dict) -> None:
        if self.watch.update(record) and self.save_best:
            self._best = {"model": _copied(trainer.model.state_dict()), "epoch": record["epoch"],
                          "monitor": self.watch.monitor, "value": self.watch.best}
        if self.clock.due(record["epoch"]) or trainer.finishing:
            self._write_best()
            if self.save_last:
                self._write_last(trainer)

    def on_train_end(self, trainer) -> None:
        self._write_best()
        if trainer.state.interrupted and self.save_last:
            self._write_last(trainer)

    def _write_last(self, trainer) -> None:
        # The last.pt being replaced is kept as last.prev.pt: a resume falls back to it if
        # the new one is ever found damaged.
        save_checkpoint(self.last_path, trainer.checkpoint_state(), keep_previous=True)

    def _write_best(self) -> None:
        if self._best is not None:
            save_checkpoint(self.best_path, self._best)
            self._best = None

    def state_dict(self) -> dict:
        return self.watch.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.watch.load_state_dict(state)


class WriteClock:
    """Which epochs a ``ModelCheckpoint`` writes: one at least ``every_s`` seconds after the
    previous write (or after training began).

    The decision for an epoch is taken once, by the first to ask, and then given to everyone
    who asks about that epoch: the members of a batched sweep sharing one clock all write
    the same epochs, so a killed sweep's members resume together, at one epoch.

    Args:
        every_s: least seconds between two writes (0: every epoch).
    """

    def __init__(self, every_s: float):
        self.every_s = every_s
        self._last_write = float("-inf")
        self._decided: tuple[int, bool] | None = None  # (epoch, due) of the latest decision

    def start(self) -> None:
        """Training begins: a crash before the first write loses no more than ``every_s``
        either, and a short run writes once, at its end, not also after its first epoch."""
        self._last_write = time.monotonic()
        self._decided = None

    def due(self, epoch: int) -> bool:
        """Whether ``epoch``'s end is due a write (the same answer for everyone)."""
        if self._decided is None or self._decided[0] != epoch:
            now = time.monotonic()
            due = now - self._last_write >= self.every_s
            if due:
                self._last_write = now
            self._decided = (epoch, due)
        return self._decided[1]


def _copied(weights: dict) -> dict:
    """A snapshot of a ``state_dict`` (its tensors change in place as training goes on), kept
    in host memory: a large model's copy would otherwise take GPU memory until it is written."""
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in weights.items()}
