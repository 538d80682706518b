"""Mixup for tabular rows: what the model sees, the mixed loss, and exact resume."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import trainwise
from trainwise.training.batches import InMemoryBatches
from trainwise.training.losses import CrossEntropyLoss, MSELoss
from trainwise.training.mixup import Mixup
from trainwise.training.running_metric import RunningMetric
from trainwise.training.trainer import Trainer
from tests.helpers import assert_same_run, small_config


class Recorder(nn.Module):
    """A linear layer that keeps a copy of every training input it is given."""

    def __init__(self, features: int):
        super().__init__()
        self.layer = nn.Linear(features, 1)
        self.inputs: list[torch.Tensor] = []

    def forward(self, x):
        if self.training:
            self.inputs.append(x.detach().clone())
        return self.layer(x)


def test_the_model_sees_mixed_rows_drawn_from_the_global_rng():
    features, targets = torch.randn(24, 3), torch.randn(24)
    model = Recorder(3)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.01), MSELoss(),
                      InMemoryBatches(features, targets, 8, seed=0, shuffle=False), epochs=1,
                      metric=RunningMetric("mae"), mixup=0.4)
    torch.manual_seed(123)
    trainer.fit()
    torch.manual_seed(123)  # replay the draws: each batch takes (lambda, perm) in turn
    replay = Mixup(0.4)
    assert len(model.inputs) == 3
    for batch, seen in enumerate(model.inputs):
        raw = features[batch * 8:(batch + 1) * 8]
        lam, perm = replay.sample(8)
        assert 0.0 <= lam <= 1.0
        assert not torch.equal(seen, raw)
        torch.testing.assert_close(seen, lam * raw + (1 - lam) * raw[perm])


@pytest.mark.parametrize("alpha", [0.1, 1.0, 5.0])
def test_lambda_lies_in_the_unit_interval_leaning_to_the_own_row(alpha):
    torch.manual_seed(0)
    mixup = Mixup(alpha)
    lams = torch.stack([mixup.sample(4)[0] for _ in range(500)])
    assert bool(((lams >= 0.5) & (lams <= 1.0)).all())  # folded: max(lambda, 1 - lambda)
    assert lams.std() > 0


class Fixed(Mixup):
    """Mixup with a chosen lambda and permutation."""

    def __init__(self, lam: float, perm: list[int]):
        super().__init__(1.0)
        self.fixed = torch.tensor(lam), torch.tensor(perm)

    def sample(self, rows):
        return self.fixed


def _identity() -> nn.Linear:
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.zero_()
    return model


def test_mixed_regression_loss_by_hand():
    x, y = torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 10.0])
    prediction, loss = Fixed(0.75, [1, 0]).forward(_identity(), MSELoss(), x, y)
    # Mixed inputs 0.75*[1, 3] + 0.25*[3, 1] = [1.5, 2.5]; the identity predicts them.
    assert prediction.squeeze(-1).tolist() == [1.5, 2.5]
    # Against y = [0, 10]: (1.5² + 7.5²) / 2 = 29.25; against y[perm] = [10, 0]:
    # (8.5² + 2.5²) / 2 = 39.25; mixed: 0.75 * 29.25 + 0.25 * 39.25 = 31.75.
    assert loss.item() == pytest.approx(31.75)


def test_mixed_loss_keeps_row_weights_with_their_rows():
    x, y, w = torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 10.0]), torch.tensor([1.0, 3.0])
    _, loss = Fixed(0.75, [1, 0]).forward(_identity(), MSELoss(), x, y, w)
    # Against y with weights [1, 3]: (2.25 + 3 * 56.25) / 4 = 42.75; against y[perm] with
    # w[perm] = [3, 1]: (3 * 72.25 + 6.25) / 4 = 55.75; mixed: 0.75 * 42.75 + 0.25 * 55.75 = 46.
    assert loss.item() == pytest.approx(46.0)


def test_mixed_cross_entropy_is_the_loss_against_the_blended_label():
    x, y = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
    prediction, loss = Fixed(0.6, [1, 0]).forward(model, CrossEntropyLoss(), x, y)
    logits = torch.tensor([[1.2, 0.4], [0.8, 0.6]])  # 0.6 * x + 0.4 * x[perm]
    torch.testing.assert_close(prediction, logits)
    log_p = F.log_softmax(logits, dim=-1)
    blended = torch.tensor([[0.6, 0.4], [0.4, 0.6]])  # each row's soft label
    assert loss.item() == pytest.approx(-(blended * log_p).sum(-1).mean().item())


@pytest.mark.slow
def test_mixup_run_records_it_and_resumes_exactly(classification_csv, runs_dir):
    config = small_config(classification_csv, target="label", task="classification",
                          epochs=20, batch_size=16, mixup=0.4)
    config["model"]["dropout"] = 0.2
    straight = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    assert straight.config.train.mixup == 0.4
    assert 0.0 <= straight.history[-1]["accuracy"] <= 1.0
    first_half = trainwise.fit(config, {"train.epochs": 10}, runs_dir=runs_dir, progress=False)
    resumed = trainwise.resume(first_half.path, epochs=20, runs_dir=runs_dir, progress=False)
    assert_same_run(straight, resumed)


def test_mixup_changes_what_training_sees(regression_csv, runs_dir):
    plain = trainwise.fit(small_config(regression_csv, epochs=1), runs_dir=runs_dir,
                          progress=False)
    mixed = trainwise.fit(small_config(regression_csv, epochs=1, mixup=0.4), runs_dir=runs_dir,
                          progress=False)
    assert mixed.history[0]["loss"] != plain.history[0]["loss"]


def test_the_diagnosis_names_mixup_when_validation_sits_below_training():
    from trainwise.diagnostics.context import DiagnosisContext
    from trainwise.diagnostics.thresholds import Thresholds
    from trainwise.diagnostics.validation_curve import val_below_train

    history = [{"epoch": e, "loss": 1.0 / e, "val_loss": 0.5 / e} for e in range(1, 11)]
    findings = val_below_train(history, DiagnosisContext(mixup=0.4), Thresholds())
    assert "mixup (alpha 0.4)" in findings[0].message
