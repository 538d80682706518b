"""Send each finished epoch to the run store, so other processes can follow a live run."""

from __future__ import annotations

from trainwise.callbacks.base import Callback
from trainwise.callbacks.monitor import Monitor
from trainwise.tracking.store import RunStore


class RunRecorder(Callback):
    """Writes every epoch's history record and batch losses to the run store as it finishes.

    The run directory gets its history files when training ends; until then the last
    checkpoint holds the history, and the store holds it for live readers.

    Args:
        store: the workspace's run store.
        run_id: this run's id.
        monitor, mode: the key whose best value the runs table shows.
    """

    def __init__(self, store: RunStore, run_id: str, monitor: str, mode: str = "auto"):
        self.store = store
        self.run_id = run_id
        self.watch = Monitor(monitor, mode)

    def on_train_begin(self, trainer) -> None:
        # A resume continues from the checkpoint's epoch; anything the store has beyond it
        # came from epochs the checkpoint never saw, and is rewritten.
        self.store.truncate(self.run_id, trainer.state.epoch)
        self.watch.reset()
        for record in trainer.state.history:
            self.watch.update(record)
        self.store.upsert_run(self.run_id, status="running", **self._summary(trainer))

    def on_epoch_end(self, trainer, record: dict) -> None:
        self.watch.update(record)
        batches = [b for b in trainer.state.batch_history[-len(trainer.batches):]
                   if b["epoch"] == record["epoch"]]
        self.store.record_epoch(self.run_id, record, batches, **self._summary(trainer))

    def _summary(self, trainer) -> dict:
        history = trainer.state.history
        return {
            "monitor": self.watch.monitor,
            "best_value": self.watch.best if self.watch.best_epoch else None,
            "best_epoch": self.watch.best_epoch or None,
            "epochs": trainer.state.epoch,
            "duration_s": sum(record["epoch_time_s"] for record in history),
        }
