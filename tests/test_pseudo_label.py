"""Pseudo-labelling: rows with an empty target, labelled by the model in rounds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import trainwise
from trainwise.callbacks import Callback, PseudoLabel
from trainwise.config import load_config
from trainwise.data.prepare import prepare_data
from trainwise.errors import UserError
from trainwise.training.batches import InMemoryBatches
from trainwise.training.losses import CrossEntropyLoss
from trainwise.training.running_metric import RunningMetric
from trainwise.training.trainer import Trainer
from tests.helpers import InterruptAtStep, assert_same_run, comparable_history, small_config

PSEUDO = {"enabled": True, "warmup_epochs": 3, "every_epochs": 4, "rounds": 3,
          "threshold": 0.6, "weight": 0.5}


@pytest.fixture
def partly_labelled_csv(tmp_path, classification_csv):
    """The 3-class table with the target blanked in 120 of its 300 rows, and a row_id column."""
    frame = pd.read_csv(classification_csv)
    frame.insert(0, "row_id", np.arange(len(frame), dtype=float))
    blank = np.random.default_rng(2).choice(len(frame), 120, replace=False)
    frame.loc[blank, "label"] = None
    path = tmp_path / "partly_labelled.csv"
    frame.to_csv(path, index=False)
    return path


def pseudo_config(source, epochs=20, drop=("row_id",), **pseudo) -> dict:
    config = small_config(source, target="label", task="classification", epochs=epochs,
                          batch_size=16, early_stopping={"enabled": False},
                          pseudo_label={**PSEUDO, **pseudo})
    config["data"]["drop"] = list(drop)
    return config


# ---------------------------------------------------------------- the rounds, by hand
class Sharpened(nn.Module):
    """Logits ``[s * x, 0]`` for a one-column x: the top probability is sigmoid(s * |x|)."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))  # something for the optimizer to hold
        self.register_buffer("sharpness", torch.ones(()))

    def forward(self, features):
        logit = features[:, 0] * self.sharpness + self.unused * 0
        return torch.stack([logit, torch.zeros_like(logit)], dim=1)


class SharpenPerRound(Callback):
    """Sharpness 1, 2, 3 at the rounds that start after epochs 2, 5 and 8."""

    def on_epoch_begin(self, trainer):
        trainer.model.sharpness.fill_(1 + max(trainer.state.epoch - 2, 0) // 3)


class RecordingLoss(CrossEntropyLoss):
    """Cross-entropy that remembers the row weights of every training batch."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def forward(self, prediction, target, weight=None):
        if torch.is_grad_enabled():
            self.weights.append(weight)
        return super().forward(prediction, target, weight)


# Top probabilities with sharpness 1: 0.5, 0.62, 0.73, 0.82, 0.95; with 2: 0.5, 0.73, 0.88,
# 0.95, 0.998; with 3: 0.5, 0.82, 0.95, 0.99, 0.9999. Positive x is class 0, negative class 1.
UNLABELLED_X = [0.0, 0.5, -1.0, 1.5, -3.0]


def hand_made_trainer(threshold: float, weight: float = 0.25):
    model = Sharpened()
    loss = RecordingLoss()
    batches = InMemoryBatches(torch.tensor([[2.0], [-2.0]]), torch.tensor([0, 1]),
                              batch_size=8, seed=0)
    pseudo = PseudoLabel(torch.tensor(UNLABELLED_X)[:, None], warmup_epochs=2, every_epochs=3,
                         rounds=3, threshold=threshold, weight=weight)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.0), loss, batches,
                      epochs=10, metric=RunningMetric("accuracy"),
                      callbacks=[SharpenPerRound(), pseudo])
    return trainer, pseudo, loss


def test_rounds_relabel_and_the_threshold_filters():
    trainer, pseudo, _ = hand_made_trainer(threshold=0.8)
    history = trainer.fit().history
    assert [r["pseudo_round"] for r in history] == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3]
    # Above 0.8: rows 3, 4 (sharpness 1), then 2, 3, 4, then 1, 2, 3, 4; row 0 never (0.5).
    assert [r["pseudo_labelled"] for r in history] == [0, 0, 2, 2, 2, 3, 3, 3, 4, 4]
    assert pseudo.indices.tolist() == [1, 2, 3, 4]
    assert pseudo.labels.tolist() == [0, 1, 0, 1]
    assert trainer.batches.targets.tolist() == [0, 1, 0, 1, 0, 1]


def test_threshold_keeps_rows_at_exactly_the_threshold():
    trainer, pseudo, _ = hand_made_trainer(threshold=0.5)
    history = trainer.fit().history
    # Row 0's top probability is exactly 0.5 (a tie, labelled class 0): kept at >= 0.5.
    assert {r["pseudo_labelled"] for r in history[2:]} == {5}
    assert pseudo.labels.tolist() == [0, 0, 1, 0, 1]


def test_pseudo_rows_carry_their_weight_into_the_loss():
    trainer, pseudo, loss = hand_made_trainer(threshold=0.8, weight=0.25)
    trainer.fit()
    assert trainer.batches.weights.tolist() == [1.0, 1.0, 0.25, 0.25, 0.25, 0.25]
    # One batch per epoch: 2 labelled rows (weight 1) and the round's 2, 3, 4 pseudo rows.
    assert loss.weights[:2] == [None, None]  # the warm-up trains on the plain mean
    assert [float(w.sum()) for w in loss.weights[2:]] == pytest.approx(
        [2.5, 2.5, 2.5, 2.75, 2.75, 2.75, 3.0, 3.0])


# ---------------------------------------------------------------- data: counts and splits
def test_unlabelled_rows_are_counted_and_kept_out_of_validation_and_test(partly_labelled_csv):
    # row_id kept as an input here so each split's rows can be traced back.
    cfg = load_config(pseudo_config(partly_labelled_csv, drop=()))
    data = prepare_data(cfg)
    blank = set(np.flatnonzero(pd.read_csv(partly_labelled_csv)["label"].isna()))

    def row_ids(features):
        stats = data.preprocessor.numeric["row_id"]
        return set(np.rint(features[:, 0] * stats["std"] + stats["mean"]).astype(int))

    assert row_ids(data.unlabelled) == blank
    for split in ("train", "val", "test"):
        assert not row_ids(data.arrays[split][0]) & blank, split
    assert data.summary["unlabelled_rows"] == 120
    assert data.summary["rows_read"] == 300
    assert sum(data.summary["rows"].values()) == 180
    assert cfg.data.target_missing == "unlabelled"  # implied by pseudo_label.enabled


def test_data_summary_of_a_run(partly_labelled_csv, runs_dir):
    run = trainwise.fit(pseudo_config(partly_labelled_csv, epochs=6), runs_dir=runs_dir,
                        progress=False)
    summary = json.loads((run.path / "data_summary.json").read_text())
    assert summary["unlabelled_rows"] == 120
    assert summary["rows"] == {"train": 108, "val": 36, "test": 36}
    assert "target_missing" not in summary["dropped"]
    assert {"pseudo_labelled", "pseudo_round"} <= set(run.history[-1])
    predictions = pd.read_csv(run.path / "predictions.csv")
    assert len(predictions) == 72 and predictions["actual"].notna().all()


def test_unlabelled_without_pseudo_labelling_trains_on_the_labelled_rows(partly_labelled_csv,
                                                                         runs_dir):
    config = pseudo_config(partly_labelled_csv, epochs=3, enabled=False)
    config["data"]["target_missing"] = "unlabelled"
    run = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    assert "pseudo_labelled" not in run.history[-1]
    summary = json.loads((run.path / "data_summary.json").read_text())
    assert summary["unlabelled_rows"] == 120 and sum(summary["rows"].values()) == 180


def test_integer_classes_with_empty_cells_match_a_validation_file(tmp_path, runs_dir):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=200)})
    frame["label"] = (frame.x > 0).astype(int) + (frame.x > 1).astype(int)
    train, val = frame.iloc[:150].copy(), frame.iloc[150:]
    train.loc[train.index[::2], "label"] = None  # the column is read back as floats
    train.to_csv(tmp_path / "train.csv", index=False)
    val.to_csv(tmp_path / "val.csv", index=False)
    config = pseudo_config(tmp_path / "train.csv", epochs=4, drop=(), warmup_epochs=2)
    config["data"]["split"] = {"method": "files", "val_file": str(tmp_path / "val.csv")}
    run = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    assert json.loads((run.path / "data_summary.json").read_text())["classes"] == [0, 1, 2]


# ---------------------------------------------------------------- mistakes
def test_validation_file_rows_need_targets(tmp_path, partly_labelled_csv):
    config = pseudo_config(partly_labelled_csv)
    config["data"]["split"] = {"method": "files", "val_file": str(partly_labelled_csv)}
    with pytest.raises(UserError, match="data.split.val_file.*validation and test rows need a "
                                        "target"):
        prepare_data(load_config(config))


@pytest.mark.parametrize("change, message", [
    ({"task": {"type": "regression"}}, "classification only"),
    ({"data": {"target_missing": "drop"}}, "set data.target_missing: unlabelled"),
    ({"train": {"epochs": 3}}, "warmup_epochs \\(3\\) leaves no epoch"),
    ({"data": {"balance": "oversample"}}, "cannot be combined with data.balance"),
    ({"train": {"scheduler": {"name": "one_cycle"}}}, "one_cycle cannot take"),
])
def test_config_mistakes_are_explained(partly_labelled_csv, change, message):
    config = pseudo_config(partly_labelled_csv)
    for section, values in change.items():
        config[section].update(values)
    with pytest.raises(UserError, match=message):
        load_config(config)


def test_nothing_to_pseudo_label_is_an_error(classification_csv):
    config = pseudo_config(classification_csv, drop=())
    with pytest.raises(UserError, match="nothing to pseudo-label"):
        prepare_data(load_config(config))


# ---------------------------------------------------------------- exact resume

def test_resume_across_a_round_boundary_is_exact(partly_labelled_csv, runs_dir):
    config = pseudo_config(partly_labelled_csv)  # rounds start after epochs 3, 7 and 11
    config["model"]["dropout"] = 0.2
    straight = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    first_half = trainwise.fit(config, {"train.epochs": 10}, runs_dir=runs_dir, progress=False)
    resumed = trainwise.resume(first_half.path, epochs=20, runs_dir=runs_dir, progress=False)

    rounds = [record["pseudo_round"] for record in straight.history]
    assert rounds == [0] * 3 + [1] * 4 + [2] * 4 + [3] * 9
    assert straight.history[-1]["pseudo_labelled"] > 0
    assert_same_run(straight, resumed)



def test_interrupt_inside_a_round_then_resume_is_exact(partly_labelled_csv, runs_dir):
    config = pseudo_config(partly_labelled_csv, epochs=9)
    straight = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    steps_per_epoch = [math.ceil((108 + r["pseudo_labelled"]) / 16) for r in straight.history]
    # A few batches into epoch 5 (round 1, trained on pseudo-labelled rows).
    step = sum(steps_per_epoch[:4]) + 2
    interrupted = trainwise.fit(config, runs_dir=runs_dir, progress=False,
                                callbacks=[InterruptAtStep(step)])
    assert interrupted.status["status"] == "stopped"
    resumed = trainwise.resume(interrupted.path, runs_dir=runs_dir, progress=False)
    assert comparable_history(resumed) == comparable_history(straight)


# ---------------------------------------------------------------- the digits example
EXAMPLE = Path(__file__).parent.parent / "examples" / "pseudo_label"


def test_digits_example_tables_keep_validation_and_test_labelled(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from make_data import split_tables

    tables = split_tables(seed=0, labelled=0.1)
    assert {name: len(table) for name, table in tables.items()} == {
        "train": 1257, "val": 180, "test": 360}
    assert tables["train"]["digit"].notna().sum() == 125
    assert tables["train"]["digit"].dropna().nunique() == 10  # every digit keeps some labels
    assert tables["val"]["digit"].notna().all() and tables["test"]["digit"].notna().all()


def test_digits_example_configs_differ_only_in_pseudo_labelling():
    plain = load_config(EXAMPLE / "digits_labelled_only.yaml").model_dump()
    pseudo = load_config(EXAMPLE / "digits_pseudo.yaml").model_dump()
    assert pseudo["train"].pop("pseudo_label")["enabled"]
    assert not plain["train"].pop("pseudo_label")["enabled"]
    assert plain.pop("name") != pseudo.pop("name")
    assert plain == pseudo
