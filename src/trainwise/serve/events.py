"""Live updates without hammering the database: one watcher for the server, many listeners.

Every ``POLL_S`` seconds one task asks the store whether anything was committed since it last
asked (``ChangeWatch``: SQLite's ``PRAGMA data_version``, which reads no table, or a shared
PostgreSQL store's one-row change counter, on one open connection). Only then does it
query, and only for what listeners wait for: the runs list (diffed against what was sent),
and for each run page that is open the epochs and batches *after* the ones already sent. The
few files a page shows that are not in the store (the live confusion matrix, metrics,
findings, status) are watched by their modification time, one ``stat`` each per poll. A
process's liveness is re-read every ``LIVENESS_EVERY_S``, as a killed process commits nothing.

So a hundred open pages cost what one does, and an idle server reads nothing but a counter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

from trainwise.serve.launcher import Launcher
from trainwise.serve.payload import dumps
from trainwise.serve.run_view import (CONFUSION_VAL_FILE, confusion_views, run_detail,
                                      run_path, run_snapshot, run_summary)
from trainwise.serve.settings import ServeSettings
from trainwise.tracking.store import ChangeWatch, RunStore

POLL_S = 0.3  # how often the store's change counter is read
LIVENESS_EVERY_S = 2.0  # how often running runs' processes are checked (they may be killed)
# Files whose change refreshes a run page's detail (status, results, diagnosis, plots).
DETAIL_FILES = ("status.json", "metrics.json", "findings.json", "model.safetensors", "plots")

Event = tuple[str, dict]  # (SSE event name, payload)
LOG = logging.getLogger("trainwise.serve")


class RunChannel:
    """One run's listeners and what they have been sent (the cursors).

    Built in a worker thread, from the snapshot its first listener is sent: the run's curves
    are read once, however long they are.
    """

    def __init__(self, settings: ServeSettings, store: RunStore, run_id: str,
                 snapshot: dict | None):
        self.settings = settings
        self.store = store
        self.run_id = run_id
        self.listeners: set[asyncio.Queue] = set()
        self.prime(snapshot)

    def prime(self, snapshot: dict | None) -> None:
        """Cursors at the end of ``snapshot`` (``run_snapshot``, just read), file stamps as
        they are now."""
        history = snapshot["history"] if snapshot else []
        self.last_epoch = history[-1]["epoch"] if history else 0
        self.last_step = snapshot["last_step"] if snapshot else 0
        self.row = self.store.get_run(self.run_id)
        self.summary = run_summary(self.row) if self.row else None
        self.path = run_path(self.settings, self.row)
        self.confusion_stamp = self._stamp(CONFUSION_VAL_FILE)
        self.detail_stamps = self._detail_stamps()

    def poll(self, store_changed: bool, check_liveness: bool) -> list[Event]:
        """What changed since the last poll, as events for this run's listeners."""
        events: list[Event] = []
        if store_changed:
            events += self._store_changes()
        elif check_liveness and self.row is not None:
            events += self._summary_event(run_summary(self.row))
        return events + self._file_changes()

    def _store_changes(self) -> list[Event]:
        row = self.store.get_run(self.run_id)
        if row is None:
            return []
        if (row.get("epochs") or 0) < self.last_epoch:
            # A resume rewound the record (epochs past its checkpoint were dropped): resend.
            snapshot = run_snapshot(self.settings, self.store, self.run_id)
            self.prime(snapshot)
            return [("snapshot", snapshot)]
        self.row = row
        update: dict = {}
        epochs = self.store.history(self.run_id, after_epoch=self.last_epoch)
        if epochs:
            update["epochs"] = epochs
            self.last_epoch = epochs[-1]["epoch"]
        batches = self.store.batches(self.run_id, after_step=self.last_step)
        if batches:
            update["batches"] = batches
            self.last_step = batches[-1]["step"]
        events = [("update", update)] if update else []
        return events + self._summary_event(run_summary(row))

    def _summary_event(self, summary: dict) -> list[Event]:
        if summary == self.summary:
            return []
        self.summary = summary
        return [("run", summary)]

    def _file_changes(self) -> list[Event]:
        if self.path is None:
            self.path = run_path(self.settings, self.row)
            if self.path is None:
                return []
        events: list[Event] = []
        confusion = self._stamp(CONFUSION_VAL_FILE)
        if confusion != self.confusion_stamp:
            self.confusion_stamp = confusion
            events.append(("confusion", confusion_views(self.path, {})))
        details = self._detail_stamps()
        if details != self.detail_stamps and self.row is not None:
            self.detail_stamps = details
            events.append(("detail", run_detail(self.settings, self.store, self.row)))
        return events

    def _detail_stamps(self) -> tuple:
        return tuple(self._stamp(name) for name in DETAIL_FILES)

    def _stamp(self, name: str) -> tuple | None:
        if self.path is None:
            return None
        try:
            stat = (self.path / name).stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size


class EventHub:
    """The server's one watcher: polls the store and fans changes out to listeners' queues.

    Args:
        settings: the server's settings.
        store: the workspace's run store.
        launcher: the server's launcher (its processes are reaped and linked to runs here).
        poll_s: seconds between two polls.
    """

    def __init__(self, settings: ServeSettings, store: RunStore, launcher: Launcher,
                 poll_s: float = POLL_S):
        self.settings = settings
        self.store = store
        self.launcher = launcher
        self.poll_s = poll_s
        self.list_listeners: set[asyncio.Queue] = set()
        self.channels: dict[str, RunChannel] = {}
        self._sent_runs: dict[str, dict] | None = None  # the runs list as listeners know it
        self._next_liveness = 0.0

    async def run(self) -> None:
        """Poll until cancelled (the app's lifespan owns this task).

        A poll that fails (a run folder deleted while read, a locked store) is logged and
        the next one tries again: live updates must outlast one bad moment.
        """
        watch = await asyncio.to_thread(self.store.change_watch)
        try:
            while True:
                await asyncio.sleep(self.poll_s)
                try:
                    await self.tick(watch)
                except Exception:
                    LOG.exception("live update failed; trying again at the next poll")
        finally:
            watch.close()

    async def tick(self, watch: ChangeWatch) -> None:
        """One poll: read in a worker thread, then hand events to the queues here."""
        channels = list(self.channels.values())
        list_events, run_events = await asyncio.to_thread(self._collect, watch, channels)
        for event in list_events:
            _deliver(self.list_listeners, event)
        for channel, events in zip(channels, run_events, strict=True):
            for event in events:
                _deliver(channel.listeners, event)

    # ------------------------------------------------------------- subscriptions
    def runs_stream(self) -> AsyncIterator[dict]:
        """The runs page's events: a snapshot, then runs and launches as they change."""
        queue: asyncio.Queue = asyncio.Queue()
        self.list_listeners.add(queue)
        return _stream(queue, self.runs_snapshot, lambda: self.list_listeners.discard(queue))

    async def run_stream(self, run_id: str) -> AsyncIterator[dict]:
        """A run page's events: a snapshot, then new epochs, batches, status and files."""
        channel, first = self.channels.get(run_id), None
        if channel is None:
            first = await asyncio.to_thread(run_snapshot, self.settings, self.store, run_id)
            new = await asyncio.to_thread(RunChannel, self.settings, self.store, run_id, first)
            channel = self.channels.setdefault(run_id, new)
            if channel is not new:  # another page opened it meanwhile: read after joining it
                first = None
        queue: asyncio.Queue = asyncio.Queue()
        channel.listeners.add(queue)

        def leave() -> None:
            channel.listeners.discard(queue)
            if not channel.listeners:
                self.channels.pop(run_id, None)

        # A new channel's cursors are its snapshot's end, so nothing falls between them.
        return _stream(queue, lambda: first or run_snapshot(self.settings, self.store, run_id),
                       leave)

    def runs_snapshot(self) -> dict:
        return {"runs": [run_summary(row) for row in self.store.list_runs()],
                "launches": [launch.to_dict() for launch in self.launcher.all()]}

    # ------------------------------------------------------------- polling (worker thread)
    def _collect(self, watch: ChangeWatch, channels: list[RunChannel]):
        changed = watch.changed()
        now = time.monotonic()
        liveness = now >= self._next_liveness
        if liveness:
            self._next_liveness = now + LIVENESS_EVERY_S
        launches = self.launcher.poll(self.store, find_runs=changed or liveness)
        list_events: list[Event] = []
        if launches:
            list_events.append(("launches", {"launches": [launch.to_dict()
                                                         for launch in launches]}))
        if self.list_listeners and (changed or liveness or launches or self._sent_runs is None):
            list_events += self._runs_changes()
        elif not self.list_listeners:
            self._sent_runs = None  # nobody listens: the next listener's snapshot is the base
        return list_events, [channel.poll(changed, liveness) for channel in channels]

    def _runs_changes(self) -> list[Event]:
        current = {row["id"]: run_summary(row) for row in self.store.list_runs()}
        sent = self._sent_runs or {}
        upsert = [row for run_id, row in current.items() if sent.get(run_id) != row]
        removed = [run_id for run_id in sent if run_id not in current]
        self._sent_runs = current
        return [("runs", {"upsert": upsert, "removed": removed})] if upsert or removed else []


def _deliver(listeners: set[asyncio.Queue], event: Event) -> None:
    for queue in list(listeners):
        queue.put_nowait(event)


async def _stream(queue: asyncio.Queue, snapshot: Callable[[], dict],
                  leave: Callable[[], None]) -> AsyncIterator[dict]:
    """SSE messages: the snapshot (read after joining, so nothing falls between), then events.

    Events that arrive while the snapshot is read repeat some of it; the page keys epochs
    and steps by number, so a repeat changes nothing.
    """
    try:
        first = await asyncio.to_thread(snapshot)
        yield {"event": "snapshot", "data": dumps(first)}
        while True:
            name, payload = await queue.get()
            yield {"event": name, "data": dumps(payload)}
    finally:
        leave()

