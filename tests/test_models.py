"""Model options: every activation, initialisation and optimizer; user modules; penalties."""

from __future__ import annotations

import math

import numpy as np
import sys

import pytest
import torch

import trainwise
from trainwise.config.schema import ACTIVATIONS, INITS, OPTIMIZERS, ModelConfig
from trainwise.models import MLP, build_model
from trainwise.training.losses import balanced_class_weights
from trainwise.training.penalty import WeightPenalty
from trainwise.training.optim import build_optimizer
from trainwise.config import load_config
from tests.helpers import small_config


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_builds_and_trains(activation, regression_csv, runs_dir):
    run = trainwise.fit(small_config(regression_csv, epochs=2), {"model.activation": activation},
                        runs_dir=runs_dir, progress=False)
    assert all(math.isfinite(r["loss"]) for r in run.history)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_lowers_the_loss(optimizer, regression_csv, runs_dir):
    run = trainwise.fit(small_config(regression_csv, epochs=8, optimizer=optimizer),
                        runs_dir=runs_dir, progress=False)
    assert run.history[-1]["loss"] < run.history[0]["loss"]


@pytest.mark.parametrize("scheme", INITS)
def test_every_initialisation_applies(scheme):
    torch.manual_seed(0)
    default = build_model(ModelConfig(hidden=[32]), 10, 1)
    torch.manual_seed(0)
    model = build_model(ModelConfig(hidden=[32], init=scheme), 10, 1)
    first = model.layers[0]
    if scheme == "default":
        assert torch.equal(first.weight, default.layers[0].weight)
    else:
        assert not torch.equal(first.weight, default.layers[0].weight)
        assert torch.count_nonzero(first.bias) == 0
    if scheme == "orthogonal":
        # (32, 10): more rows than columns, so the columns are orthonormal.
        gram = first.weight.T @ first.weight
        assert torch.allclose(gram, torch.eye(10), atol=1e-5)


def test_leaky_relu_slope_batch_norm_and_dropout_appear_in_the_mlp():
    model = MLP(4, 2, [8, 8], activation="leaky_relu", leaky_relu_slope=0.2, dropout=0.3,
                batch_norm=True)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Linear", "BatchNorm1d", "LeakyReLU", "Dropout"] * 2 + ["Linear"]
    assert model.layers[2].negative_slope == 0.2


def test_a_users_own_module_by_import_path(tmp_path, regression_csv, runs_dir, monkeypatch):
    (tmp_path / "my_models.py").write_text(
        "from torch import nn\n"
        "class Wide(nn.Module):\n"
        "    def __init__(self, n_inputs, n_outputs, width=4):\n"
        "        super().__init__()\n"
        "        self.net = nn.Sequential(nn.Linear(n_inputs, width), nn.Tanh(),\n"
        "                                 nn.Linear(width, n_outputs))\n"
        "    def forward(self, x):\n"
        "        return self.net(x)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "my_models", raising=False)
    run = trainwise.fit(small_config(regression_csv, epochs=2),
                        {"model.name": "my_models:Wide", "model.kwargs": {"width": 7}},
                        runs_dir=runs_dir, progress=False)
    assert run.model.net[0].out_features == 7
    assert len(run.predict(__import__("pandas").read_csv(regression_csv))) == 300


def test_balanced_class_weights_match_scikit_learn():
    from sklearn.utils.class_weight import compute_class_weight

    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels.numpy())
    assert torch.allclose(balanced_class_weights(labels, 3), torch.tensor(expected).float())


def test_class_weights_change_the_validation_loss_too(classification_csv, runs_dir):
    config = small_config(classification_csv, target="label", task="classification", epochs=1)
    plain = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    weighted = trainwise.fit(config, {"task.class_weights": [1.0, 1.0, 5.0]}, runs_dir=runs_dir,
                             progress=False)
    assert weighted.history[0]["val_loss"] != plain.history[0]["val_loss"]
    named = trainwise.fit(config, {"task.class_weights": {"c": 5.0}}, runs_dir=runs_dir,
                          progress=False)
    assert named.history[0]["val_loss"] == weighted.history[0]["val_loss"]


def test_l1_l2_penalties_cover_weight_matrices_only():
    model = MLP(3, 1, [2])
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(0.5)
    penalty = WeightPenalty(model, l1=0.1, l2=0.01)()
    n_weights = 3 * 2 + 2 * 1
    assert penalty.item() == pytest.approx(0.1 * 0.5 * n_weights + 0.01 * 0.25 * n_weights)


def test_l2_penalty_shrinks_the_weights(regression_csv, runs_dir):
    config = small_config(regression_csv, epochs=10)
    plain = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    shrunk = trainwise.fit(config, {"model.l2": 0.1}, runs_dir=runs_dir, progress=False)
    norm = lambda run: sum(p.square().sum() for p in run.model.parameters() if p.ndim == 2)  # noqa: E731
    assert norm(shrunk) < norm(plain)


def test_weight_decay_skips_biases():
    model = MLP(3, 1, [4])
    cfg = load_config({"data": {"source": "x.csv", "target": "y"},
                       "model": {"l2": 0.01, "l2_as": "weight_decay"},
                       "train": {"weight_decay": 0.001}})
    groups = build_optimizer(model, cfg).param_groups
    decays = {p.ndim: group["weight_decay"] for group in groups for p in group["params"]}
    assert decays == {2: pytest.approx(0.011), 1: 0.0}


def test_gradient_clipping_is_applied(regression_csv, runs_dir):
    config = small_config(regression_csv, epochs=1, optimizer="sgd", lr=0.5)
    unclipped = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    clipped = trainwise.fit(config, {"train.grad_clip": 1e-3}, runs_dir=runs_dir, progress=False)
    assert clipped.history[0]["loss"] != unclipped.history[0]["loss"]
