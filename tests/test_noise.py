"""Gaussian input noise: training mode only, the right statistics, exact resume, shown."""

from __future__ import annotations

import json

import pytest
import torch

import trainwise
from tests.helpers import assert_same_run, comparable_history, small_config
from trainwise.config import load_config
from trainwise.diagnostics.context import context_from_run
from trainwise.errors import UserError
from trainwise.models import MLP
from trainwise.models.noise import GaussianNoise



def test_noise_is_added_in_training_mode_only():
    noise = GaussianNoise(0.3)
    x = torch.randn(64, 5)
    assert torch.equal(noise.eval()(x), x)
    noisy = noise.train()(x)
    assert not torch.equal(noisy, x) and noisy.shape == x.shape
    assert not torch.equal(noise(x), noisy)  # fresh noise on every call


def test_added_noise_is_zero_mean_with_standard_deviation_sigma():
    torch.manual_seed(0)
    x = torch.randn(200_000, 4) * 3 + 1
    added = GaussianNoise(0.5).train()(x) - x
    assert abs(added.mean().item()) < 0.005
    assert added.std().item() == pytest.approx(0.5, rel=0.01)
    # Independent of the input and across features.
    correlation = torch.corrcoef(torch.stack([added[:, 0], added[:, 1], x[:, 0]]))
    assert correlation[0, 1].abs() < 0.01 and correlation[0, 2].abs() < 0.01


def test_noise_draws_from_the_global_generator():
    x = torch.zeros(10, 3)
    torch.manual_seed(7)
    first = GaussianNoise(1.0)(x)
    torch.manual_seed(7)
    assert torch.equal(GaussianNoise(1.0)(x), first)


def test_mlp_puts_noise_first_without_renaming_its_layers():
    noisy = MLP(4, 1, [8], input_noise=0.2)
    plain = MLP(4, 1, [8])
    assert isinstance(next(iter(noisy.children())), GaussianNoise)
    assert list(noisy.state_dict()) == list(plain.state_dict())
    assert plain.noise is None
    x = torch.randn(16, 4)
    assert torch.equal(noisy.eval()(x), noisy(x))
    assert not torch.equal(noisy.train()(x), noisy(x))


def test_model_summary_shows_the_noise_layer(regression_csv, runs_dir):
    run = trainwise.fit(small_config(regression_csv, epochs=1), {"model.input_noise": 0.1},
                        runs_dir=runs_dir, progress=False)
    summary = json.loads((run.path / "model_summary.json").read_text())
    assert [layer["type"] for layer in summary["layers"]] == ["GaussianNoise", "Linear", "ReLU",
                                                             "Linear"]
    assert "GaussianNoise" in summary["text"]
    assert context_from_run(run.path).input_noise == 0.1


def test_ten_plus_ten_equals_twenty_with_noise(regression_csv, runs_dir):
    config = small_config(regression_csv, epochs=20, batch_size=16)
    config["model"].update(input_noise=0.2, dropout=0.1)
    straight = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    first_half = trainwise.fit(config, {"train.epochs": 10}, runs_dir=runs_dir, progress=False)
    resumed = trainwise.resume(first_half.path, epochs=20, runs_dir=runs_dir, progress=False)
    assert_same_run(straight, resumed)
    # The noise changed training: a run without it follows another path.
    quiet = trainwise.fit(config, {"model.input_noise": 0.0}, runs_dir=runs_dir, progress=False)
    assert comparable_history(quiet) != comparable_history(straight)


@pytest.mark.parametrize("overrides, expected", [
    (["model.input_noise=-0.1"], "model.input_noise"),
    (["model.input_noise=0.1", "model.name=mypackage.nets:Net"], "built-in mlp only"),
])
def test_bad_input_noise_is_a_config_error(overrides, expected):
    with pytest.raises(UserError, match=expected):
        load_config({"data": {"source": "auto_mpg", "target": "mpg"}}, overrides)
