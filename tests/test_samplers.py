"""Class balancing: over- and under-sampling per epoch, and SMOTE rows for the training split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from trainwise.config import load_config
from trainwise.data.prepare import prepare_data
from trainwise.training.batches import InMemoryBatches
from trainwise.training.samplers import OverSampler, UnderSampler, build_sampler

LABELS = torch.tensor([0] * 90 + [1] * 10)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_oversampling_keeps_the_epoch_size_and_balances_the_classes():
    sampler = OverSampler(LABELS)
    assert sampler.rows_per_epoch == 100
    draws = torch.cat([sampler(epoch, _generator(epoch)) for epoch in range(50)])
    assert len(draws) == 5000 and draws.max() < 100
    minority_share = (LABELS[draws] == 1).float().mean().item()
    assert minority_share == pytest.approx(0.5, abs=0.03)
    # With replacement: the 10 minority rows each appear many times.
    assert (LABELS[draws] == 1).sum() > 10 * 50


def test_undersampling_is_exactly_balanced_with_a_fresh_subset_each_epoch():
    sampler = UnderSampler(LABELS)
    assert sampler.rows_per_epoch == 20
    epochs = [sampler(epoch, _generator(epoch)) for epoch in range(3)]
    for rows in epochs:
        assert torch.bincount(LABELS[rows]).tolist() == [10, 10]
        assert len(set(rows.tolist())) == 20  # without replacement
        assert set(torch.nonzero(LABELS == 1).squeeze(1).tolist()) <= set(rows.tolist())
    majority = [set(rows[LABELS[rows] == 0].tolist()) for rows in epochs]
    assert majority[0] != majority[1] and majority[1] != majority[2]


@pytest.mark.parametrize("balance", ["oversample", "undersample"])
def test_samplers_draw_only_from_the_generator(balance):
    sampler = build_sampler(balance, LABELS.numpy())
    torch.manual_seed(123)  # the global RNG must play no part
    first = sampler(4, _generator(7))
    torch.manual_seed(456)
    assert torch.equal(first, sampler(4, _generator(7)))
    assert not torch.equal(first, sampler(4, _generator(8)))


def test_batches_serve_the_samplers_rows_deterministically():
    features = torch.arange(100, dtype=torch.float32)[:, None]
    batches = InMemoryBatches(features, LABELS, batch_size=8, seed=3,
                              sampler=UnderSampler(LABELS))
    assert len(batches) == 3  # 20 rows per epoch in batches of 8
    epoch = [(x.clone(), y.clone()) for x, y, _ in batches.epoch(2)]
    again = [(x, y) for x, y, _ in batches.epoch(2)]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(epoch, again))
    # A resume skipping two batches sees the same third batch.
    assert torch.equal(next(iter(batches.epoch(2, skip=2)))[0], epoch[2][0])
    assert torch.bincount(torch.cat([y for _, y in epoch])).tolist() == [10, 10]


def test_no_sampler_for_none_or_smote():
    assert build_sampler("none", LABELS) is None and build_sampler("smote", LABELS) is None


# ----------------------------------------------------------------- SMOTE
@pytest.fixture
def imbalanced_csv(tmp_path):
    """400 rows, 'rare' is about 10 %: x1 + x2 / 2 above a threshold; a categorical column."""
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "colour": rng.choice(["red", "green", "blue"], size=n)})
    frame["label"] = np.where(frame.x1 + 0.5 * frame.x2 > 1.3, "rare", "common")
    path = tmp_path / "imbalanced.csv"
    frame.to_csv(path, index=False)
    return path


def _prepare(path, **data):
    return prepare_data(load_config({"data": {"source": str(path), "target": "label", **data},
                                     "task": {"type": "classification"}}))


def test_smote_fills_the_minority_of_the_training_split_only(imbalanced_csv):
    plain = _prepare(imbalanced_csv)
    smote = _prepare(imbalanced_csv, balance="smote")
    counts = np.bincount(plain.arrays["train"][1])
    majority, minority = counts.max(), counts.min()
    assert np.bincount(smote.arrays["train"][1]).tolist() == [majority, majority]
    record = smote.summary["balance"]
    assert record["method"] == "smote"
    assert record["rows_added"] == majority - minority
    assert record["rows_added_by_class"] == {"common": 0, "rare": int(majority - minority)}
    assert record["train_rows_after"] == 2 * majority
    # The real training rows come first, unchanged; validation and test are untouched.
    n_train = len(plain.arrays["train"][1])
    np.testing.assert_array_equal(smote.arrays["train"][0][:n_train], plain.arrays["train"][0])
    for split in ("val", "test"):
        for got, want in zip(smote.arrays[split], plain.arrays[split]):
            np.testing.assert_array_equal(got, want)
    # The split's class counts still describe the real rows.
    assert smote.summary["class_counts"] == plain.summary["class_counts"]


def test_smote_rows_are_new_minority_rows_with_whole_categories(imbalanced_csv):
    data = _prepare(imbalanced_csv, balance="smote")
    features, targets = data.arrays["train"]
    n_real = data.summary["rows"]["train"]
    synthetic = features[n_real:]
    assert (targets[n_real:] == data.preprocessor.classes.index("rare")).all()
    one_hot = synthetic[:, len(data.preprocessor.numeric):]
    assert set(np.unique(one_hot)) <= {0.0, 1.0} and (one_hot.sum(axis=1) == 1).all()


def test_smote_is_the_same_for_the_same_seed(imbalanced_csv):
    first = _prepare(imbalanced_csv, balance="smote")
    second = _prepare(imbalanced_csv, balance="smote")
    np.testing.assert_array_equal(first.arrays["train"][0], second.arrays["train"][0])


def test_smote_uses_fewer_neighbours_for_a_tiny_class(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "label": ["a"] * 54 + ["b"] * 6})
    path = tmp_path / "tiny.csv"
    frame.to_csv(path, index=False)
    data = prepare_data(load_config({"data": {"source": str(path), "target": "label",
                                              "balance": "smote", "split": {"method": "none"}},
                                     "task": {"type": "classification"}}))
    assert data.summary["balance"]["neighbors"] == 5
    assert data.summary["balance"]["rows_added"] == 48
    frame["label"] = ["a"] * 57 + ["b"] * 3
    frame.to_csv(path, index=False)
    data = prepare_data(load_config({"data": {"source": str(path), "target": "label",
                                              "balance": "smote", "split": {"method": "none"}},
                                     "task": {"type": "classification"}}))
    assert data.summary["balance"]["neighbors"] == 2
