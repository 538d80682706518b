"""last.pt and the run store are written at most every few seconds, yet never miss the end."""

from __future__ import annotations

import torch

from trainwise.callbacks import RunRecorder
from trainwise.callbacks import model_checkpoint
from trainwise.callbacks.model_checkpoint import ModelCheckpoint
from trainwise.tracking.store import RunStore
from trainwise.training.batches import InMemoryBatches
from trainwise.training.checkpoint import load_checkpoint
from trainwise.training.losses import MSELoss
from trainwise.training.running_metric import RunningMetric
from trainwise.training.trainer import Trainer


def _trainer(callbacks, epochs=6) -> Trainer:
    model = torch.nn.Linear(3, 1)
    batches = InMemoryBatches(torch.randn(40, 3), torch.randn(40), batch_size=10, seed=0)
    return Trainer(model, torch.optim.SGD(model.parameters(), lr=0.01), MSELoss(), batches,
                   epochs=epochs, metric=RunningMetric("mae"), callbacks=callbacks)


def test_last_checkpoint_is_written_once_for_a_fast_run_and_holds_the_end(tmp_path, monkeypatch):
    saved = []
    real_save = model_checkpoint.save_checkpoint
    monkeypatch.setattr(model_checkpoint, "save_checkpoint",
                        lambda path, state, **options: (saved.append(path.name), real_save(path, state, **options)))
    trainer = _trainer([ModelCheckpoint(tmp_path, "loss", save_best=False, last_every_s=3600)])
    trainer.fit()
    # The interval starts with training: nothing is due before the final epoch.
    assert saved == ["last.pt"]
    assert load_checkpoint(tmp_path / "last.pt")["train_state"]["epoch"] == 6


def test_every_epoch_when_the_interval_is_zero(tmp_path, monkeypatch):
    saved = []
    real_save = model_checkpoint.save_checkpoint
    monkeypatch.setattr(model_checkpoint, "save_checkpoint",
                        lambda path, state, **options: (saved.append(path.name), real_save(path, state, **options)))
    _trainer([ModelCheckpoint(tmp_path, "loss", save_best=False, last_every_s=0)]).fit()
    assert saved == ["last.pt"] * 6


def test_store_gets_every_epoch_though_writes_are_grouped(tmp_path):
    store = RunStore(tmp_path / "trainwise.db")
    store.upsert_run("r", name="r", task="regression", status="running", path=str(tmp_path))
    trainer = _trainer([RunRecorder(store, "r", "loss", flush_every_s=3600)])
    trainer.fit()
    assert [record["epoch"] for record in store.history("r")] == [1, 2, 3, 4, 5, 6]
    assert store.get_run("r")["epochs"] == 6
    assert len(store.batches("r")) == 6 * 4
