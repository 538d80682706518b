"""Mark running trials alive in the study's storage from a background thread.

Optuna's own heartbeat thread lives inside ``Study.optimize``; a worker that asks and tells
(batches, its own budget) beats itself. The thread beats while an epoch runs (an hour-long
epoch stays alive), and stops beating when the process dies, however it dies: that silence is
what lets another worker declare the trial abandoned.
"""

from __future__ import annotations

import threading
from typing import Self

import optuna


class TrialHeartbeat:
    """``with TrialHeartbeat(storage, trials, every_s): ...`` beats for ``trials`` inside.

    The first beat is written before the block starts: a trial with no beat at all is never
    found stale, so it must not stay without one.
    """

    def __init__(self, storage: optuna.storages.RDBStorage, trials: list[optuna.Trial],
                 every_s: float):
        self.storage = storage
        self.trial_ids = [trial._trial_id for trial in trials]
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="tune-heartbeat", daemon=True)

    def __enter__(self) -> Self:
        self._record()
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self._record()
            except Exception:  # noqa: BLE001, S110 -- a storage hiccup: the next beat retries
                pass

    def _record(self) -> None:
        for trial_id in self.trial_ids:
            self.storage.record_heartbeat(trial_id)
