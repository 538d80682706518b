"""Gradient accumulation: `accumulate N x batch B` trains exactly like one batch of N*B."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import trainwise
from trainwise.training.batches import InMemoryBatches
from trainwise.training.losses import MSELoss
from trainwise.training.penalty import WeightPenalty
from trainwise.training.running_metric import RunningMetric
from trainwise.training.trainer import Trainer
from tests.helpers import InterruptAtStep, assert_same_run, small_config

COMPARED = ("loss", "mae", "val_loss", "val_mae", "lr", "grad_norm")


def _trainer(n_rows: int, batch_size: int, accumulate: int, penalty: bool = False,
             grad_clip: float | None = None, epochs: int = 4, model: nn.Module | None = None):
    """SGD with momentum on a small MLP (no dropout, no batch norm), the same start each time."""
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(n_rows, 3, generator=generator)
    targets = features @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(n_rows,
                                                                             generator=generator)
    validation = (torch.randn(40, 3, generator=generator), torch.randn(40, generator=generator))
    torch.manual_seed(0)
    model = model or nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))
    return Trainer(model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), MSELoss(),
                   InMemoryBatches(features, targets, batch_size, seed=0), epochs=epochs,
                   metric=RunningMetric("mae"), validation=validation, grad_clip=grad_clip,
                   penalty=WeightPenalty(model, 1e-3, 1e-3) if penalty else None,
                   accumulate=accumulate)


def _assert_same_training(big: Trainer, accumulated: Trainer) -> None:
    for one, other in zip(big.state.history, accumulated.state.history, strict=True):
        for key in COMPARED:
            assert other[key] == pytest.approx(one[key], rel=1e-6, abs=1e-6), key
    big_steps = [row["loss"] for row in big.state.batch_history]
    assert [row["loss"] for row in accumulated.state.batch_history] == pytest.approx(
        big_steps, rel=1e-6, abs=1e-6)
    assert accumulated.state.global_step == big.state.global_step
    for (name, weight), other in zip(big.model.state_dict().items(),
                                     accumulated.model.state_dict().values()):
        torch.testing.assert_close(other, weight, rtol=1e-6, atol=1e-6, msg=name)


# 96 rows: whole groups; 100: a last group of 4 rows (one short batch); 90: a last group of
# 26 rows (8 + 8 + 8 + 2); 72: a last group of two batches (8 + 8).
@pytest.mark.parametrize("n_rows", [96, 100, 90, 72])
def test_four_batches_of_8_equal_one_batch_of_32(n_rows):
    big = _trainer(n_rows, batch_size=32, accumulate=1)
    big.fit()
    accumulated = _trainer(n_rows, batch_size=8, accumulate=4)
    accumulated.fit()
    _assert_same_training(big, accumulated)
    assert accumulated.state.global_step == 4 * -(-n_rows // 32)  # optimizer steps, not batches


def test_penalty_and_clipping_apply_once_per_optimizer_step():
    big = _trainer(90, batch_size=32, accumulate=1, penalty=True, grad_clip=0.5)
    big.fit()
    accumulated = _trainer(90, batch_size=8, accumulate=4, penalty=True, grad_clip=0.5)
    accumulated.fit()
    _assert_same_training(big, accumulated)


class InterruptOnForward(nn.Module):
    """A model that raises the interrupt flag during its ``at``-th training forward pass."""

    def __init__(self, at: int):
        super().__init__()
        self.layer = nn.Linear(3, 1)
        self.at = at
        self.calls = 0
        self.trainer = None

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                self.trainer.state.interrupted = True
        return self.layer(x)


def test_an_interrupt_waits_for_the_end_of_the_optimizer_step():
    # Batches of 8 accumulated 4 at a time; Ctrl-C arrives during the 6th batch (2nd group).
    model = InterruptOnForward(at=6)
    trainer = _trainer(96, batch_size=8, accumulate=4, model=model)
    model.trainer = trainer
    trainer.fit()
    assert trainer.state.interrupted
    assert (trainer.state.batch_in_epoch, trainer.state.global_step) == (8, 2)


def test_accumulation_in_a_run_equals_the_bigger_batch(regression_csv, runs_dir):
    # 180 training rows: batches of 8 in groups of 4 leave a last group of 8 + 8 + 4 rows.
    common = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "epochs": 4,
              "early_stopping": {"enabled": False}}
    big = trainwise.fit(small_config(regression_csv, batch_size=32, **common),
                        runs_dir=runs_dir, progress=False)
    accumulated = trainwise.fit(small_config(regression_csv, batch_size=8, accumulate=4,
                                             **common), runs_dir=runs_dir, progress=False)
    for one, other in zip(big.history, accumulated.history, strict=True):
        for key in COMPARED:
            assert other[key] == pytest.approx(one[key], rel=1e-6, abs=1e-6), key
    assert accumulated.status["global_step"] == big.status["global_step"] == 4 * 6
    for name, weight in big.model.state_dict().items():
        torch.testing.assert_close(accumulated.model.state_dict()[name], weight, rtol=1e-6, atol=1e-6)
    assert accumulated.config.train.accumulate == 4  # recorded in the run's config.yaml


def test_interrupt_mid_epoch_with_accumulation_resumes_exactly(regression_csv, runs_dir):
    # 180 rows in batches of 16: 12 batches, 3 per step, 4 steps per epoch; step 6 is mid-epoch 2.
    config = small_config(regression_csv, epochs=4, batch_size=16, accumulate=3)
    config["model"]["dropout"] = 0.2
    straight = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    interrupted = trainwise.fit(config, runs_dir=runs_dir, progress=False,
                                callbacks=[InterruptAtStep(6)])
    assert interrupted.status["global_step"] == 6 and len(interrupted.history) == 1
    resumed = trainwise.resume(interrupted.path, runs_dir=runs_dir, progress=False)
    assert_same_run(straight, resumed)


@pytest.mark.parametrize("override, key", [("train.accumulate=0", "train.accumulate"),
                                           ("train.mixup=-0.2", "train.mixup")])
def test_bad_accumulate_and_mixup_values_name_the_key(override, key):
    from trainwise.config import load_config
    from trainwise.errors import UserError

    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        load_config({"data": {"source": "auto_mpg", "target": "mpg"}}, [override])
