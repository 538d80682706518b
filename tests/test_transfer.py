"""Transfer learning: partial loading, freezing, gradual unfreezing, per-group learning rates."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import trainwise
from tests.helpers import InterruptAtStep, assert_same_run, comparable_history, small_config
from trainwise.callbacks import Callback
from trainwise.config import load_config
from trainwise.errors import UserError
from trainwise.models import MLP, build_model
from trainwise.training.optim import build_optimizer
from trainwise.training.transfer import load_matching_weights


class Snapshots(Callback):
    """Copies of every parameter before training and after each epoch."""

    def __init__(self):
        self.before = None
        self.after_epoch = {}
        self.grads_of_frozen = []

    def on_train_begin(self, trainer):
        self.before = _parameters(trainer.model)

    def on_batch_end(self, trainer, loss):
        self.grads_of_frozen += [p.grad for p in trainer.model.parameters()
                                 if not p.requires_grad]

    def on_epoch_end(self, trainer, record):
        self.after_epoch[record["epoch"]] = _parameters(trainer.model)


def _parameters(model) -> dict:
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters()}



def _fit(config, overrides, runs_dir, callbacks=()):
    return trainwise.fit(config, overrides, runs_dir=runs_dir, progress=False,
                         callbacks=list(callbacks))


# ------------------------------------------------------------------------------ freezing
def test_frozen_parameters_stay_bit_identical_while_the_rest_train(regression_csv, runs_dir):
    snapshots = Snapshots()
    # Weight decay and momentum must not touch them either.
    run = _fit(small_config(regression_csv, epochs=4, weight_decay=0.1),
               {"model.freeze": ["layers.0.*"], "train.early_stopping.enabled": False},
               runs_dir, [snapshots])
    final = _parameters(run.model)
    for name in ("layers.0.weight", "layers.0.bias"):
        assert torch.equal(final[name], snapshots.before[name]), name
    for name in ("layers.2.weight", "layers.2.bias"):
        assert not torch.equal(final[name], snapshots.before[name]), name
    assert snapshots.grads_of_frozen and all(grad is None for grad in snapshots.grads_of_frozen)
    summary = json.loads((run.path / "model_summary.json").read_text())
    assert summary["trainable_params"] == summary["total_params"] - (5 * 16 + 16)


def test_unfreezing_at_epoch_k_lets_them_change_from_epoch_k_only(regression_csv, runs_dir):
    snapshots = Snapshots()
    _fit(small_config(regression_csv, epochs=4),
         {"model.freeze": ["layers.0.*"], "model.unfreeze": {3: ["layers.0.*"]},
          "train.early_stopping.enabled": False}, runs_dir, [snapshots])
    start = snapshots.before["layers.0.weight"]
    after = {epoch: weights["layers.0.weight"] for epoch, weights in snapshots.after_epoch.items()}
    assert torch.equal(after[1], start) and torch.equal(after[2], start)
    assert not torch.equal(after[3], start) and not torch.equal(after[4], after[3])
    assert not torch.equal(snapshots.after_epoch[1]["layers.2.weight"],
                           snapshots.before["layers.2.weight"])


def test_gradual_unfreezing_follows_the_schedule():
    from trainwise.callbacks.freeze import FreezeSchedule

    model = MLP(3, 1, [4, 4])
    schedule = FreezeSchedule(model, ["layers.0.*", "layers.2.*"],
                              {2: ["layers.2.weight"], 5: ["*"]})
    assert schedule.frozen_in(1) == {"layers.0.weight", "layers.0.bias", "layers.2.weight",
                                     "layers.2.bias"}
    assert schedule.frozen_in(4) == {"layers.0.weight", "layers.0.bias", "layers.2.bias"}
    schedule.apply(4)
    assert [name for name, p in model.named_parameters() if not p.requires_grad] == \
        ["layers.0.weight", "layers.0.bias", "layers.2.bias"]
    schedule.apply(5)
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("overrides, expected", [
    ({"model.freeze": ["layer.0.*"]}, ["model.freeze", "'layer.0.*' matches no parameter",
                                       "layers.0.weight, layers.0.bias, layers.2.weight"]),
    ({"model.freeze": ["layers.0.*"], "model.unfreeze": {3: ["layers.2.*"]}},
     ["model.unfreeze[3]", "matches no frozen parameter", "layers.0.weight"]),
    ({"model.freeze": ["*"]}, ["matches every parameter", "nothing would train"]),
    ({"train.param_groups": [{"params": "output.*", "lr": 0.1}]},
     ["train.param_groups[0].params", "'output.*' matches no parameter", "layers.2.bias"]),
    ({"train.param_groups": [{"params": "*", "lr": 0.1}, {"params": "layers.0.*", "lr": 0.2}]},
     ["train.param_groups[1].params", "already in an earlier group"]),
])
def test_parameter_patterns_are_checked_before_anything_is_written(regression_csv, runs_dir,
                                                                   overrides, expected):
    with pytest.raises(UserError) as caught:
        _fit(small_config(regression_csv), overrides, runs_dir)
    for text in expected:
        assert text in str(caught.value)
    assert not runs_dir.exists() or not [p for p in runs_dir.iterdir() if p.is_dir()]


def test_unfreeze_without_freeze_is_a_config_error():
    with pytest.raises(UserError, match="model.unfreeze needs model.freeze"):
        load_config({"data": {"source": "auto_mpg", "target": "mpg"}},
                    ["model.unfreeze={5: ['*']}"])


# ------------------------------------------------------------------ per-group learning rates
def test_param_groups_get_their_own_learning_rate_and_keep_the_decay_split():
    cfg = load_config({"data": {"source": "auto_mpg", "target": "mpg"},
                       "model": {"hidden": [8, 8]},
                       "train": {"lr": 0.01, "weight_decay": 0.05, "param_groups": [
                           {"params": "layers.0.*", "lr": 1e-4},
                           {"params": ["layers.2.weight"], "lr": 1e-3}]}})
    model = build_model(cfg.model, 5, 1)
    optimizer = build_optimizer(model, cfg)
    by_parameter = {name: (group["lr"], group["weight_decay"])
                    for group in optimizer.param_groups for p in group["params"]
                    for name, q in model.named_parameters() if p is q}
    assert by_parameter == {
        "layers.0.weight": (1e-4, 0.05), "layers.0.bias": (1e-4, 0.0),
        "layers.2.weight": (1e-3, 0.05), "layers.2.bias": (0.01, 0.0),
        "layers.4.weight": (0.01, 0.05), "layers.4.bias": (0.01, 0.0),
    }
    # The base rate's groups come first: the history's lr column is train.lr.
    assert optimizer.param_groups[0]["lr"] == 0.01


def test_param_groups_train_at_their_rates(regression_csv, runs_dir):
    snapshots = Snapshots()
    run = _fit(small_config(regression_csv, epochs=2),
               {"train.param_groups": [{"params": "layers.0.*", "lr": 1e-9}],
                "train.early_stopping.enabled": False}, runs_dir, [snapshots])
    assert run.history[0]["lr"] == 0.01
    moved = {name: (run.model.state_dict()[name] - before).abs().max().item()
             for name, before in snapshots.before.items()}
    assert moved["layers.0.weight"] < 1e-6 < moved["layers.2.weight"]


# ---------------------------------------------------------------------------- partial loading
def test_load_matching_weights_reports_every_skip_with_its_reason():
    source = MLP(5, 3, [16], batch_norm=True)  # layers: Linear, BatchNorm1d, ReLU, Linear
    target = MLP(5, 2, [16])  # layers: Linear, ReLU, Linear
    report = load_matching_weights(target, source.state_dict())
    assert report["loaded"] == ["layers.0.weight", "layers.0.bias"]
    reasons = {item["name"]: item["reason"] for item in report["skipped"]}
    assert reasons["layers.2.weight"].startswith("not in the source run")
    assert reasons["layers.3.weight"].startswith("not in this model")
    assert reasons["layers.1.running_mean"].startswith("not in this model")
    assert torch.equal(target.layers[0].weight, source.layers[0].weight)


@pytest.fixture
def binary_csv(tmp_path):
    """200 rows with the same inputs as classification_csv, but two other classes."""
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x1": rng.normal(size=200), "x2": rng.normal(size=200)})
    frame["label"] = np.where(frame.x1 + frame.x2 > 0, "yes", "no")
    path = tmp_path / "binary.csv"
    frame.to_csv(path, index=False)
    return path


def test_partial_init_loads_what_fits_and_reports_the_new_output_layer(
        classification_csv, binary_csv, runs_dir, invoke, capsys):
    source = _fit(small_config(classification_csv, "label", "classification", epochs=3), None,
                  runs_dir)
    snapshots = Snapshots()
    config = small_config(binary_csv, "label", "classification", epochs=2)
    run = trainwise.fit(config, {"model.init_from": str(source.path),
                                 "model.init_from_strict": False},
                        runs_dir=runs_dir, callbacks=[snapshots])

    report = json.loads((run.path / "init_from.json").read_text())
    assert report["strict"] is False and report["source"] == str(source.path.resolve())
    assert report["loaded"] == ["layers.0.weight", "layers.0.bias"]
    assert {item["name"]: item["reason"].split(":")[0] for item in report["skipped"]} == {
        "layers.2.weight": "shape differs", "layers.2.bias": "shape differs"}
    assert "source (3, 16), this model (2, 16)" in report["skipped"][0]["reason"]
    source_weights = load_file(source.path / "model.safetensors")
    for name in report["loaded"]:
        assert torch.equal(snapshots.before[name], source_weights[name]), name
    # Inputs scaled as the loaded weights learned them; the classes are this data's own.
    assert run.preprocessor.numeric == source.preprocessor.numeric
    assert run.preprocessor.classes == ["no", "yes"]
    assert "skipped layers.2.weight: shape differs" in capsys.readouterr().err

    shown = invoke("show", run.path, "--runs-dir", runs_dir)
    assert "Initialised from" in shown.output
    assert "model.init_from (partial): loaded 2 tensors" in shown.output


def test_strict_init_errors_point_to_partial_loading(classification_csv, binary_csv,
                                                     regression_csv, runs_dir):
    source = _fit(small_config(classification_csv, "label", "classification", epochs=1), None,
                  runs_dir)
    with pytest.raises(UserError, match="never seen in training.*init_from_strict: false"):
        _fit(small_config(binary_csv, "label", "classification"),
             {"model.init_from": str(source.path)}, runs_dir)
    source = _fit(small_config(regression_csv, epochs=1), None, runs_dir)
    with pytest.raises(UserError, match="differently shaped model.*init_from_strict: false"):
        _fit(small_config(regression_csv), {"model.init_from": str(source.path),
                                            "model.hidden": [8]}, runs_dir)


def test_strict_init_records_that_everything_loaded(regression_csv, runs_dir):
    source = _fit(small_config(regression_csv, epochs=1), None, runs_dir)
    tuned = _fit(small_config(regression_csv, epochs=1), {"model.init_from": str(source.path)},
                 runs_dir)
    report = json.loads((tuned.path / "init_from.json").read_text())
    assert report["strict"] is True and report["skipped"] == []
    assert report["loaded"] == list(source.model.state_dict())


# ------------------------------------------------------------------------------ exact resume
def test_resume_with_an_unfreeze_schedule_equals_straight(regression_csv, runs_dir):
    config = small_config(regression_csv, epochs=20, batch_size=16, weight_decay=0.01,
                          param_groups=[{"params": "layers.0.*", "lr": 0.001}])
    config["model"].update(dropout=0.2, freeze=["layers.0.*"],
                           unfreeze={5: ["layers.0.weight"], 15: ["*"]})
    straight = _fit(config, None, runs_dir)
    first_half = _fit(config, {"train.epochs": 10}, runs_dir)
    resumed = trainwise.resume(first_half.path, epochs=20, runs_dir=runs_dir, progress=False)
    assert_same_run(straight, resumed)



def test_interrupt_in_the_unfreeze_epoch_then_resume_equals_straight(regression_csv,
                                                                     runs_dir):
    config = small_config(regression_csv, epochs=4, batch_size=16)
    config["model"].update(freeze=["layers.0.*"], unfreeze={3: ["*"]})
    straight = _fit(config, None, runs_dir)
    # 180 training rows / 16 = 12 batches per epoch: step 30 is inside epoch 3.
    interrupted = _fit(config, None, runs_dir, [InterruptAtStep(30)])
    assert interrupted.status["status"] == "stopped"
    resumed = trainwise.resume(interrupted.path, runs_dir=runs_dir, progress=False)
    assert comparable_history(resumed) == comparable_history(straight)
