"""The end of an epoch: one read from the device, sums made on the host, values callbacks log,
and checkpoints that hold the epoch's steps (and older ones that held running sums)."""

from __future__ import annotations

import io

import pytest
import torch

from tests.helpers import InterruptAtStep
from trainwise.callbacks import Callback
from trainwise.training import InMemoryBatches, Trainer, TrainState
from trainwise.training.losses import MSELoss
from trainwise.training.running_metric import RunningMetric
from trainwise.training.state import batch_columns, batch_rows


def _trainer(callbacks=(), epochs=3, rows=50, batch_size=16, **options) -> Trainer:
    torch.manual_seed(0)
    features = torch.randn(rows, 3)
    targets = features @ torch.tensor([1.0, -2.0, 0.5])
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    validation = (torch.randn(20, 3), torch.randn(20))
    return Trainer(model, torch.optim.SGD(model.parameters(), lr=0.05), MSELoss(),
                   InMemoryBatches(features, targets, batch_size, seed=0), epochs=epochs,
                   metric=RunningMetric("mae", scale=2.0), validation=validation,
                   callbacks=list(callbacks), **options)


class _Tally(Callback):
    """Records each step's batch: what the epoch's loss and MAE must be made of."""

    def __init__(self):
        self.steps: list[tuple[float, int]] = []

    def on_batch_end(self, trainer, loss):
        self.steps.append((loss.item(), trainer.state.step_rows[-1]))


def test_the_epoch_loss_is_the_row_weighted_mean_of_its_steps():
    tally = _Tally()
    history = _trainer([tally], epochs=1).fit().history  # 50 rows: 16, 16, 16 and 2
    assert [rows for _, rows in tally.steps] == [16, 16, 16, 2]
    expected = sum(loss * rows for loss, rows in tally.steps) / 50
    assert history[0]["loss"] == pytest.approx(expected, rel=1e-12)


def test_the_record_has_its_keys_in_order_and_validate_agrees_with_it():
    trainer = _trainer(epochs=2)
    record = trainer.fit().history[-1]
    assert list(record) == ["epoch", "loss", "mae", "val_loss", "val_mae", "lr", "grad_norm",
                            "epoch_time_s"]
    assert all(isinstance(value, float) for key, value in record.items() if key != "epoch")
    assert trainer.validate() == {"val_loss": record["val_loss"], "val_mae": record["val_mae"]}


def test_the_mae_is_in_the_targets_units():
    trainer = _trainer(epochs=1, log_batches=False)
    record = trainer.fit().history[0]
    features, targets = trainer.validation
    with torch.no_grad():
        errors = (trainer.model(features).squeeze(-1) - targets).abs()
    assert record["val_mae"] == pytest.approx(2.0 * errors.mean().item(), rel=1e-6)


class _LogsOnValidation(Callback):
    def __init__(self):
        self.seen_in_record = []

    def on_validation_end(self, trainer):
        trainer.log_value("epoch_squared", torch.tensor(float(trainer.state.epoch + 1) ** 2))

    def on_epoch_end(self, trainer, record):
        self.seen_in_record.append(record["epoch_squared"])


def test_logged_values_join_the_record_after_the_trainers_own_keys():
    watcher = _LogsOnValidation()
    history = _trainer([watcher], epochs=3).fit().history
    assert [record["epoch_squared"] for record in history] == [1.0, 4.0, 9.0]
    assert watcher.seen_in_record == [1.0, 4.0, 9.0]  # callbacks see them in on_epoch_end
    assert list(history[0])[-2:] == ["epoch_time_s", "epoch_squared"]


def test_a_logged_value_must_be_one_number():
    with pytest.raises(RuntimeError):
        _trainer().log_value("two", torch.zeros(2))


def test_validation_hooks_wrap_the_validation_pass_once_per_epoch():
    calls = []

    class Order(Callback):
        def on_validation_begin(self, trainer):
            calls.append(("begin", trainer.model.training))

        def on_validation_end(self, trainer):
            calls.append(("end", trainer.model.training))

        def on_epoch_end(self, trainer, record):
            calls.append(("epoch", record["epoch"]))

    _trainer([Order()], epochs=2).fit()
    # predict() switches to eval mode inside the pass, and back to training before it ends.
    assert calls == [("begin", True), ("end", True), ("epoch", 1),
                     ("begin", True), ("end", True), ("epoch", 2)]


def test_no_validation_rows_no_validation_hooks():
    trainer = _trainer(epochs=1)
    trainer.validation = None
    record = trainer.fit().history[0]
    assert "val_loss" not in record and trainer.validate() == {}


# ----------------------------------------------------------------- checkpoints
def test_a_mid_epoch_checkpoint_holds_the_steps_so_far():
    trainer = _trainer([InterruptAtStep(6)], epochs=3)  # 4 steps an epoch: inside epoch 2
    state = trainer.fit()
    saved = state.state_dict()
    assert (saved["epoch"], saved["step_rows"]) == (1, [16, 16])
    # One tensor per list, however long the epoch: one storage to write, not one per step.
    assert saved["step_losses"].shape == saved["step_metric_sums"].shape == (2,)
    restored = TrainState.from_state_dict(_through_torch_save(saved))
    # On the CPU the steps are numbers already read; restored, 0-d tensors of the same values.
    assert [float(loss) for loss in restored.step_losses] == \
        [float(loss) for loss in state.step_losses]


def test_a_checkpoint_with_the_old_running_sums_still_resumes():
    old = {key: value for key, value in TrainState(epoch=1, global_step=6).state_dict().items()
           if not key.startswith("step_")}
    old.update(loss_sum=torch.tensor(8.0), metric_sum=torch.tensor(3.0), rows_seen=32,
               batch_history=[{"step": 1, "epoch": 1, "loss": 0.5}])
    state = TrainState.from_state_dict(old)
    assert [loss.item() for loss in state.step_losses] == [0.25]  # 8.0 over 32 rows
    assert ([value.item() for value in state.step_metric_sums], state.step_rows) == ([3.0], [32])
    assert state.batch_history == [{"step": 1, "epoch": 1, "loss": 0.5}]


def test_batch_history_goes_into_checkpoints_as_columns_and_comes_back_whole():
    rows = [{"step": 1, "epoch": 1, "loss": 0.25, "lr": 0.1},
            {"step": 2, "epoch": 1, "loss": float("inf")},
            {"step": 3, "epoch": 2, "loss": 1e-12, "lr": 0.05}]
    columns = batch_columns(rows)
    assert all(isinstance(column, torch.Tensor) for column in columns.values())
    assert batch_rows(_through_torch_save(columns)) == rows
    assert batch_rows(rows) == rows  # older checkpoints hold the rows themselves
    assert batch_rows(batch_columns([])) == []


def _through_torch_save(payload):
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)
