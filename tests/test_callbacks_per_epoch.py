"""What the built-in callbacks cost per epoch: the dead-unit share from the trainer's own
validation pass, and best.pt written with last.pt's rhythm instead of at every improvement."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.helpers import InterruptAtStep
from trainwise.callbacks import (
    Callback,
    DeadUnitMonitor,
    ModelCheckpoint,
    model_checkpoint,
)
from trainwise.fused import FusedStep
from trainwise.models.mlp import MLP
from trainwise.training import InMemoryBatches, Trainer
from trainwise.training.checkpoint import load_checkpoint
from trainwise.training.losses import MSELoss
from trainwise.training.running_metric import RunningMetric


def _model(activation=nn.ReLU) -> nn.Sequential:
    model = nn.Sequential(nn.Linear(3, 6), activation(), nn.Linear(6, 4), activation(),
                          nn.Linear(4, 1))
    with torch.no_grad():  # three units that never fire: their input is always -100
        model[0].weight[:2] = 0.0
        model[0].bias[:2] = -100.0
        model[2].weight[0] = 0.0
        model[2].bias[0] = -100.0
    return model


def _trainer(callbacks, model=None, epochs=4, lr=0.05) -> Trainer:
    torch.manual_seed(0)
    features = torch.randn(64, 3)
    targets = features @ torch.tensor([1.0, -2.0, 0.5])
    model = model if model is not None else _model()
    return Trainer(model, torch.optim.SGD(model.parameters(), lr=lr), MSELoss(),
                   InMemoryBatches(features, targets, 16, seed=0), epochs=epochs,
                   metric=RunningMetric("mae"), validation=(torch.randn(40, 3), torch.randn(40)),
                   callbacks=callbacks)


def _dead_share(model: nn.Module, features: torch.Tensor) -> float:
    """The share the old way: a forward pass of its own with hooks on every ReLU."""
    outputs = []
    handles = [module.register_forward_hook(lambda m, i, out: outputs.append(out))
               for module in model.modules() if isinstance(module, nn.ReLU)]
    with torch.no_grad():
        model.eval()
        model(features)
        model.train()
    for handle in handles:
        handle.remove()
    flags = torch.cat([(out > 0).any(dim=0) for out in outputs])
    return 1.0 - flags.float().mean().item()


class _Recount(Callback):
    """Measures the share independently at every epoch's end."""

    def __init__(self):
        self.shares = []

    def on_epoch_end(self, trainer, record):
        self.shares.append(_dead_share(trainer.model, trainer.validation[0]))


def test_dead_units_come_from_the_validation_pass_and_match_a_pass_of_their_own():
    recount = _Recount()
    history = _trainer([DeadUnitMonitor(), recount]).fit().history
    assert [record["dead_units"] for record in history] == pytest.approx(recount.shares)
    assert history[0]["dead_units"] >= 3 / 10  # the three units set up dead, at least


def test_the_monitor_adds_no_forward_pass():
    def count_forwards(callbacks):
        trainer = _trainer(callbacks, epochs=3)
        calls = []
        trainer.model.register_forward_pre_hook(lambda module, inputs: calls.append(1))
        trainer.fit()
        return len(calls)

    # Autograd training: 4 steps and 1 validation pass per epoch, with or without it.
    assert count_forwards([DeadUnitMonitor()]) == count_forwards([]) == 3 * (4 + 1)


def test_no_hook_stays_on_the_relus_after_training():
    trainer = _trainer([DeadUnitMonitor()], epochs=2)
    trainer.fit()
    assert all(not module._forward_hooks for module in trainer.model.modules())


def test_a_loop_without_validation_hooks_gets_a_pass_of_the_monitors_own():
    # The batched sweep hands each member its record and calls on_epoch_end only.
    trainer = _trainer([], epochs=1)
    monitor = DeadUnitMonitor()
    monitor.on_train_begin(trainer)
    record = {"epoch": 1}
    monitor.on_epoch_end(trainer, record)
    assert record["dead_units"] == pytest.approx(_dead_share(trainer.model,
                                                             trainer.validation[0]))
    assert all(not module._forward_hooks for module in trainer.model.modules())


def test_without_relus_there_is_no_dead_units_key():
    history = _trainer([DeadUnitMonitor()], model=_model(nn.Tanh), epochs=1).fit().history
    assert "dead_units" not in history[0]


# ----------------------------------------------------------------- best.pt
@pytest.fixture
def saved(monkeypatch):
    """The file names ModelCheckpoint writes, in order (each still written for real)."""
    names = []
    real_save = model_checkpoint.save_checkpoint
    monkeypatch.setattr(model_checkpoint, "save_checkpoint",
                        lambda path, payload, **options: (names.append(path.name), real_save(path, payload, **options)))
    return names


def test_best_weights_wait_for_the_next_write_but_the_last_best_is_on_disk(tmp_path, saved):
    checkpoint = ModelCheckpoint(tmp_path, "loss", save_last=False, last_every_s=3600)
    trainer = _trainer([checkpoint], epochs=6, lr=0.01)
    history = trainer.fit().history
    best = min(history, key=lambda record: record["loss"])
    assert saved == ["best.pt"]  # the interval starts with training: only the final epoch
    written = load_checkpoint(tmp_path / "best.pt")
    assert (written["epoch"], written["value"]) == (best["epoch"], best["loss"])


def test_best_weights_are_a_snapshot_not_the_live_tensors(tmp_path, saved):
    trainer = _trainer([ModelCheckpoint(tmp_path, "val_loss", save_last=False,
                                        last_every_s=3600)], epochs=8, lr=0.2)
    history = trainer.fit().history
    best = min(history, key=lambda record: record["val_loss"])
    written = load_checkpoint(tmp_path / "best.pt")
    # Validation on noise: the best epoch comes early, and the weights move on after it.
    assert written["epoch"] == best["epoch"] < history[-1]["epoch"]
    assert any(not torch.equal(tensor, trainer.model.state_dict()[name])
               for name, tensor in written["model"].items())


def test_an_interrupt_writes_the_pending_best_weights(tmp_path, saved):
    checkpoint = ModelCheckpoint(tmp_path, "loss", last_every_s=3600)
    trainer = _trainer([InterruptAtStep(10), checkpoint], epochs=6, lr=0.01)
    state = trainer.fit()
    assert state.interrupted and state.epoch == 2
    assert saved == ["best.pt", "last.pt"]  # nothing due before the interrupt
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 2


def test_every_improvement_is_written_when_the_interval_is_zero(tmp_path, saved):
    trainer = _trainer([ModelCheckpoint(tmp_path, "loss", save_last=False, last_every_s=0)],
                       epochs=5, lr=0.01)
    history = trainer.fit().history
    improvements = sum(record["loss"] < min([float("inf")] + [r["loss"] for r in history[:i]])
                       for i, record in enumerate(history))
    assert saved == ["best.pt"] * improvements


def _fused_trainer(callbacks, epochs=3) -> Trainer:
    """An MLP trained by the fused step, three of its first layer's units set up dead."""
    torch.manual_seed(0)
    model = MLP(3, 1, hidden=[6, 4])
    with torch.no_grad():
        model.layers[0].weight[:3] = 0.0
        model.layers[0].bias[:3] = -100.0
    step = FusedStep(model, MSELoss(), lr=0.01)
    features = torch.randn(64, 3)
    return Trainer(model, step.optimizer, MSELoss(),
                   InMemoryBatches(features, features.sum(1), 16, seed=0), epochs=epochs,
                   metric=RunningMetric("mae"), validation=(torch.randn(40, 3), torch.randn(40)),
                   callbacks=callbacks, fused_step=step)


def test_a_fused_step_validates_with_its_kernels_and_the_monitor_watches_them():
    recount = _Recount()
    trainer = _fused_trainer([DeadUnitMonitor(), recount])
    calls = []
    trainer.model.register_forward_pre_hook(lambda module, inputs: calls.append(1))
    history = trainer.fit().history
    # Only the recount called the module: neither training nor validation did.
    assert len(calls) == len(history) == 3
    assert [record["dead_units"] for record in history] == pytest.approx(recount.shares)
    assert history[0]["dead_units"] >= 3 / 10
    # The kernel's validation numbers are the module's, to the last bit.
    features, targets = trainer.validation
    trainer.model.eval()
    with torch.no_grad():
        prediction = trainer.model(features)
    assert torch.equal(trainer.predict(features), prediction)
    assert history[-1]["val_loss"] == MSELoss()(prediction, targets).item()
