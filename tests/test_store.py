"""The run store (SQLite, WAL) and atomic writes."""

from __future__ import annotations

import sqlite3

import pytest
import torch

from trainwise.atomic import write_atomic
from trainwise.errors import UserError
from trainwise.tracking import RunStore
from trainwise.training.checkpoint import load_checkpoint, save_checkpoint


def test_store_uses_wal_and_reads_while_another_connection_writes(tmp_path):
    store = RunStore(tmp_path / "trainwise.db")
    with sqlite3.connect(tmp_path / "trainwise.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.upsert_run("r", name="n", task="regression", status="running")
    writer = sqlite3.connect(tmp_path / "trainwise.db")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE runs SET status = 'finished'")
    # A reader is not blocked by an open write transaction and sees the last commit.
    assert RunStore(tmp_path / "trainwise.db").get_run("r")["status"] == "running"
    writer.commit()
    writer.close()
    assert store.get_run("r")["status"] == "finished"


def test_epochs_and_batches_are_recorded_and_truncated_on_resume(tmp_path):
    store = RunStore(tmp_path / "trainwise.db")
    for epoch in (1, 2, 3):
        store.record_epoch("r", {"epoch": epoch, "loss": 1.0 / epoch},
                           [{"step": epoch, "epoch": epoch, "loss": 0.5}], epochs=epoch)
    assert store.get_run("r")["epochs"] == 3
    store.truncate("r", 1)
    assert [r["epoch"] for r in store.history("r")] == [1]
    assert [b["step"] for b in store.batches("r")] == [1]


def test_unknown_run_columns_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown run fields"):
        RunStore(tmp_path / "db").upsert_run("r", colour="red")


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"weights": torch.ones(3)})

    def dies_halfway(handle):
        handle.write(b"half a checkpoint")
        raise KeyboardInterrupt  # a kill in the middle of writing

    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, dies_halfway)
    assert torch.equal(load_checkpoint(path)["weights"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary left behind


def test_checkpoints_load_with_weights_only(tmp_path):
    save_checkpoint(tmp_path / "c.pt", {"w": torch.zeros(2), "epoch": 3, "history": [{"a": 1.0}]})
    assert torch.load(tmp_path / "c.pt", weights_only=True)["epoch"] == 3


class Arbitrary:
    """Any pickled object: weights-only loading must refuse to construct it."""


def test_a_checkpoint_holding_code_is_refused(tmp_path):
    torch.save({"obj": Arbitrary()}, tmp_path / "evil.pt")
    with pytest.raises(UserError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "evil.pt")


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from trainwise.atomic import _UMASK, write_text_atomic

    write_text_atomic(tmp_path / "report.html", "<p>shared</p>")
    mode = stat.S_IMODE(os.stat(tmp_path / "report.html").st_mode)
    assert mode == 0o666 & ~_UMASK  # e.g. 0644, not mkstemp's private 0600


def test_checkpoints_are_fsynced_and_text_records_only_atomic(tmp_path, monkeypatch):
    import os

    from trainwise.atomic import write_json_atomic, write_text_atomic

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda descriptor: (synced.append(descriptor),
                                                         real_fsync(descriptor)))
    save_checkpoint(tmp_path / "last.pt", {"epoch": 1})
    assert len(synced) == 1  # training's state survives a power cut, not only a kill
    write_json_atomic(tmp_path / "history.json", [{"epoch": 1}])
    write_text_atomic(tmp_path / "history.csv", "epoch\n1\n")
    assert len(synced) == 1  # records are rewritten from the checkpoint when needed
    write_text_atomic(tmp_path / "note.txt", "kept", durable=True)
    assert len(synced) == 2
    assert (tmp_path / "note.txt").read_text() == "kept"
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


# ----------------------------------------------------------------------- migrations
# The first release's tables, as stores made before schema versions have them.
FIRST_SCHEMA = """
CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT, task TEXT, status TEXT, monitor TEXT,
                   best_value REAL, best_epoch INTEGER, epochs INTEGER, duration_s REAL,
                   path TEXT, created_at TEXT, updated_at TEXT);
CREATE TABLE epochs (run_id TEXT NOT NULL, epoch INTEGER NOT NULL, record TEXT NOT NULL,
                     PRIMARY KEY (run_id, epoch));
CREATE TABLE batches (run_id TEXT NOT NULL, step INTEGER NOT NULL, epoch INTEGER NOT NULL,
                      loss REAL, PRIMARY KEY (run_id, step));
INSERT INTO runs (id, name, status, epochs, created_at) VALUES
    ('old', 'kept', 'finished', 1, '2024-01-01T00:00:00+00:00');
INSERT INTO epochs VALUES ('old', 1, '{"epoch": 1, "loss": 0.5}');
"""


@pytest.mark.parametrize("added_before", [(), ("reason",),
                                          ("reason", "host", "pid", "process_ticks",
                                           "heartbeat_at")])
def test_a_store_made_before_schema_versions_is_migrated(tmp_path, added_before):
    """From the first release's tables, and with the columns later releases added one by one
    (the last case is a store made by the trainwise just before versions)."""
    from trainwise.tracking.store_migrations import VERSION

    path = tmp_path / "trainwise.db"
    with sqlite3.connect(path) as db:
        db.executescript(FIRST_SCHEMA)
        for column in added_before:
            db.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT")
    store = RunStore(path)
    assert store.get_run("old")["name"] == "kept" and store.history("old") == [
        {"epoch": 1, "loss": 0.5}]
    watch = store.change_watch()
    store.upsert_run("old", status="running", host="h", pid=1, process_ticks=2, reason=None,
                     heartbeat_at="2024-01-01T00:00:01+00:00")
    assert watch.changed() and store.get_run("old")["host"] == "h"
    watch.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(VERSION,)]
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_store_is_chosen_by_option_or_config_then_environment_then_runs_folder(
        tmp_path, monkeypatch):
    from trainwise.session import open_store
    from trainwise.tracking.store_url import choose_store

    runs = tmp_path / "runs"
    monkeypatch.delenv("TRAINWISE_STORE", raising=False)
    assert choose_store(runs) == runs / "trainwise.db"
    monkeypatch.setenv("TRAINWISE_STORE", f"sqlite:///{tmp_path / 'env.db'}")
    assert open_store(runs).path == tmp_path / "env.db"
    assert open_store(runs, f"sqlite:///{tmp_path / 'given.db'}").path == tmp_path / "given.db"
    assert not (runs / "trainwise.db").exists()


@pytest.mark.parametrize("store, message", [
    ("mysql://me@host/db", "runs.store: not a store URL"),
    ("postgresql://me:secret@host/db", "runs.store: holds a password"),
])
def test_the_config_refuses_a_bad_store_url(store, message):
    from trainwise.config.load import load_config

    with pytest.raises(UserError, match=message):
        load_config({"data": {"source": "auto_mpg", "target": "mpg"}}, {"runs.store": store})


def test_runs_folders_sharing_a_store_never_share_a_run_id(tmp_path):
    """Two machines (two runs folders) naming a run in the same second: the store holds the
    first id, so the second run takes the next free name instead of overwriting its row."""
    from trainwise.tracking.run_dir import RunDirectory

    store = RunStore(f"sqlite:///{tmp_path / 'shared.db'}")
    first = RunDirectory.create(tmp_path / "machine-a", "same", claim=store.claim_run)
    second = RunDirectory.create(tmp_path / "machine-b", "same", claim=store.claim_run)
    assert first.run_id != second.run_id
    assert store.get_run(first.run_id)["path"] == str(first.path.resolve())
    assert store.get_run(second.run_id)["path"] == str(second.path.resolve())
    # The same folder claiming its own id again (a restart in place) is not a conflict.
    assert store.claim_run(first.run_id, first.path)
