"""The callback contract, early stopping and the shared monitor."""

from __future__ import annotations

import inspect

import pytest
import torch

import trainwise.callbacks as callbacks_module
from trainwise.callbacks import Callback, CallbackList, EarlyStopping, Monitor
from trainwise.callbacks.base import HOOKS
from trainwise.errors import UserError
from trainwise.training import InMemoryBatches, Trainer
from trainwise.training.losses import MSELoss
from trainwise.training.running_metric import RunningMetric


def _exported_callbacks():
    return [obj for obj in vars(callbacks_module).values()
            if inspect.isclass(obj) and issubclass(obj, Callback) and obj is not Callback]


@pytest.mark.parametrize("callback_class", _exported_callbacks(), ids=lambda c: c.__name__)
def test_every_callback_keeps_the_hook_contract(callback_class):
    for hook in HOOKS:
        base = inspect.signature(getattr(Callback, hook))
        own = inspect.signature(getattr(callback_class, hook))
        assert list(own.parameters) == list(base.parameters), f"{callback_class.__name__}.{hook}"
    assert callable(callback_class.state_dict) and callable(callback_class.load_state_dict)


def test_base_hooks_do_nothing_and_are_not_dispatched():
    class OnlyEpochs(Callback):
        def on_epoch_end(self, trainer, record):
            pass

    hooks = CallbackList([Callback(), OnlyEpochs()])
    assert hooks.has("on_epoch_end") and not hooks.has("on_batch_end")


def _trainer(callbacks, epochs=30):
    torch.manual_seed(0)
    features = torch.randn(64, 3)
    targets = features @ torch.tensor([1.0, -2.0, 0.5])
    model = torch.nn.Linear(3, 1)
    # Validation on noise: val_loss stops improving quickly, so early stopping has work to do.
    validation = (torch.randn(32, 3), torch.randn(32))
    return Trainer(model, torch.optim.SGD(model.parameters(), lr=0.05), MSELoss(),
                   InMemoryBatches(features, targets, 16, seed=0), epochs=epochs,
                   metric=RunningMetric("mae"), validation=validation, callbacks=callbacks)


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    stopper = EarlyStopping("val_loss", patience=3)
    trainer = _trainer([stopper])
    state = trainer.fit()
    history = state.history
    best = min(history, key=lambda r: r["val_loss"])
    assert state.epoch == best["epoch"] + 3 < 30
    assert "did not improve for 3 epochs" in state.stop_reason
    assert trainer.validate()["val_loss"] == pytest.approx(best["val_loss"], rel=1e-6)


def test_min_epochs_holds_off_early_stopping():
    state = _trainer([EarlyStopping("val_loss", patience=0, min_epochs=12)]).fit()
    assert state.epoch >= 12


def test_one_early_stopping_instance_serves_two_fits():
    stopper = EarlyStopping("val_loss", patience=2)
    first = _trainer([stopper]).fit().epoch
    second = _trainer([stopper]).fit().epoch
    assert first == second


def test_monitor_min_delta_and_auto_mode():
    watch = Monitor("val_accuracy", "auto", min_delta=0.01)
    assert watch.mode == "max"
    assert [watch.update({"epoch": e, "val_accuracy": v})
            for e, v in enumerate([0.5, 0.505, 0.6], 1)] == [True, False, True]
    assert watch.best_epoch == 3


def test_missing_monitor_key_lists_the_keys_that_exist():
    with pytest.raises(UserError, match="available keys are: loss, val_loss"):
        Monitor("val_acc").update({"epoch": 1, "loss": 1.0, "val_loss": 2.0})
