"""Segmentation metrics from pixel confusion matrices (checked against scikit-learn), the
device-side confusion of logits, and the trainer's running pixel accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from trainwise.segmentation_metrics import (confusion_counts, confusion_from_logits,
                                            metrics_from_confusion, segmentation_metrics)
from trainwise.training.losses import IGNORE_LABEL
from trainwise.training.running_metric import RunningMetric

CLASSES = ["water", "forest", "field", "town"]


def labels(seed: int, shape=(3, 16, 16), classes: int = 4, ignored: float = 0.3):
    """Random true and predicted labels (mostly right), a share of true ones ignored."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, shape)
    predicted = np.where(rng.random(shape) < 0.6, truth, rng.integers(0, classes, shape))
    return np.where(rng.random(shape) < ignored, IGNORE_LABEL, truth), predicted


def test_per_class_scores_match_scikit_learn_on_the_valid_pixels():
    truth, predicted = labels(0)
    found = segmentation_metrics(truth, predicted, CLASSES)
    valid = truth != IGNORE_LABEL
    y_true, y_pred = truth[valid], predicted[valid]
    options = {"labels": range(4), "average": None, "zero_division": 0}
    reference = {"iou": skm.jaccard_score(y_true, y_pred, **options),
                 "f1": skm.f1_score(y_true, y_pred, **options),
                 "precision": skm.precision_score(y_true, y_pred, **options),
                 "recall": skm.recall_score(y_true, y_pred, **options)}
    for i, name in enumerate(CLASSES):
        for key, values in reference.items():
            assert found["per_class"][name][key] == pytest.approx(values[i])
        assert found["per_class"][name]["pixels"] == int((y_true == i).sum())
        assert found["per_class"][name]["predicted_pixels"] == int((y_pred == i).sum())
    assert found["mean_iou"] == pytest.approx(reference["iou"].mean())
    assert found["pixel_accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert found["pixels"] == int(valid.sum())
    assert found["confusion_matrix"] == skm.confusion_matrix(y_true, y_pred,
                                                             labels=range(4)).tolist()
    assert found["classes"] == CLASSES
    json.dumps(found)  # plain Python numbers only


def test_a_class_absent_from_truth_and_prediction_is_none_and_out_of_the_mean():
    truth = np.array([[0, 0, 1], [1, 2, IGNORE_LABEL]])
    # Class 3 ("town") is nowhere; class 2 is true once but never predicted; the ignored
    # pixel's prediction (town) is not counted.
    predicted = np.array([[0, 1, 1], [1, 1, 3]])
    found = segmentation_metrics(truth, predicted, CLASSES)
    assert found["per_class"]["town"] == {"iou": None, "f1": None, "precision": None,
                                          "recall": None, "pixels": 0, "predicted_pixels": 0}
    # water: TP 1, FN 1 -> IoU 1/2; forest: TP 2, FP 2 -> 2/4; field: missed -> 0.
    assert found["per_class"]["field"]["iou"] == 0.0
    assert found["per_class"]["field"]["precision"] == 0.0
    assert found["mean_iou"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    assert found["pixel_accuracy"] == pytest.approx(3 / 5)
    assert (found["dominant_class"], found["dominant_class_share"]) == ("forest", 4 / 5)


def test_one_predicted_class_shows_as_a_dominant_share_near_one():
    truth, _ = labels(1)
    found = segmentation_metrics(truth, np.full(truth.shape, 2), CLASSES)
    assert found["dominant_class_share"] == 1.0
    assert found["dominant_class"] == "field"


def test_no_valid_pixel_gives_none_not_a_division_by_zero():
    truth = np.full((2, 3), IGNORE_LABEL)
    found = segmentation_metrics(truth, np.zeros((2, 3), dtype=int), CLASSES)
    assert found["pixels"] == 0
    assert found["pixel_accuracy"] is found["mean_iou"] is found["dominant_class_share"] is None
    assert all(scores["iou"] is None for scores in found["per_class"].values())


@pytest.mark.parametrize("chunk", [1, 7, 100, 1 << 20])
def test_chunked_confusion_equals_one_shot(chunk):
    truth, predicted = labels(2, shape=(5, 31, 17))
    one_shot = confusion_counts(truth, predicted, 4, chunk_pixels=truth.size)
    assert np.array_equal(confusion_counts(truth, predicted, 4, chunk_pixels=chunk), one_shot)
    # Other integer types and non-contiguous views count the same.
    assert np.array_equal(confusion_counts(truth.astype(np.int16)[:, ::1], predicted.astype(
        np.uint8), 4, chunk_pixels=chunk), one_shot)
    assert np.array_equal(confusion_counts(truth.transpose(2, 0, 1), predicted.transpose(
        2, 0, 1), 4, chunk_pixels=chunk), one_shot)
    assert one_shot.sum() == (truth != IGNORE_LABEL).sum()


def test_out_of_range_labels_are_refused():
    with pytest.raises(ValueError, match="target labels must be 0..3"):
        segmentation_metrics(np.array([0, 4]), np.array([0, 0]), CLASSES)
    with pytest.raises(ValueError, match="predicted labels must be 0..3"):
        segmentation_metrics(np.array([0, 1]), np.array([0, -1]), CLASSES)
    with pytest.raises(ValueError, match="differ in shape"):
        segmentation_metrics(np.array([0, 1]), np.array([0]), CLASSES)


def test_confusion_from_logits_agrees_with_numpy_and_adds_up_over_chunks():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 4, 9, 11, generator=generator)
    truth, _ = labels(3, shape=(6, 9, 11))
    targets = torch.from_numpy(truth)
    expected = confusion_counts(truth, logits.argmax(1).numpy(), 4)
    whole = confusion_from_logits(logits, targets, 4)
    assert whole.dtype == torch.int64
    assert np.array_equal(whole.numpy(), expected)
    chunked = sum(confusion_from_logits(logits[i:i + 4], targets[i:i + 4], 4)
                  for i in range(0, 6, 4))
    assert torch.equal(chunked, whole)
    # Channels-last logits and (N, K, L) pixels count the same.
    channels_last = logits.contiguous(memory_format=torch.channels_last)
    assert torch.equal(confusion_from_logits(channels_last, targets, 4), whole)
    assert torch.equal(confusion_from_logits(logits.flatten(2), targets.flatten(1), 4), whole)
    assert metrics_from_confusion(whole.numpy(), CLASSES) == segmentation_metrics(
        truth, logits.argmax(1).numpy(), CLASSES)
    with pytest.raises(ValueError, match="N, 4, \\*spatial"):
        confusion_from_logits(logits[:, :3], targets, 4)


# ----------------------------------------------------------- running pixel accuracy
def one_hot_logits(predicted: torch.Tensor, classes: int = 3) -> torch.Tensor:
    """(N, K, H, W) logits whose argmax is ``predicted`` (N, H, W)."""
    return torch.nn.functional.one_hot(predicted, classes).permute(0, 3, 1, 2).float()


def test_pixel_accuracy_is_a_hand_count_of_the_valid_pixels():
    predicted = torch.tensor([[[0, 1], [2, 2]], [[1, 1], [0, 0]]])
    target = torch.tensor([[[0, 1], [1, IGNORE_LABEL]], [[1, 0], [IGNORE_LABEL, IGNORE_LABEL]]])
    # Valid pixels: 3 + 2 = 5; right: 2 (chip 1) + 1 (chip 2). Ignored ones never count,
    # not even where the prediction is "right" by accident.
    metric = RunningMetric("pixel_accuracy")
    logits = one_hot_logits(predicted)
    value = metric.value(logits, target)
    assert value.dim() == 0 and value.dtype == torch.float32
    assert value.item() == pytest.approx(3 / 5)
    assert metric.batch_sum(logits, target).item() == pytest.approx(2 * 3 / 5)
    # Whatever the model predicts at the ignored pixels changes nothing.
    other = one_hot_logits(torch.where(target == IGNORE_LABEL, 1, predicted))
    assert torch.equal(metric.value(other, target), value)


def test_pixel_accuracy_with_no_valid_pixel_is_zero():
    metric = RunningMetric("pixel_accuracy")
    logits, target = torch.zeros(2, 3, 2, 2), torch.full((2, 2, 2), IGNORE_LABEL)
    assert metric.batch_sum(logits, target).item() == 0.0
    assert metric.value(logits, target).item() == 0.0


def test_pixel_accuracy_of_a_whole_set_is_exact_and_epochs_weigh_batches_by_chips():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(7, 4, 13, 9, generator=generator)
    truth, _ = labels(4, shape=(7, 13, 9))
    targets = torch.from_numpy(truth)
    correct = int(((logits.argmax(1) == targets) & (targets != IGNORE_LABEL)).sum())
    valid = int((targets != IGNORE_LABEL).sum())
    metric = RunningMetric("pixel_accuracy")
    # The ratio of the set's counts, rounded once to float32.
    assert metric.value(logits, targets).item() == torch.tensor(correct / valid).item()
    assert metric.value(logits, targets).item() == pytest.approx(
        segmentation_metrics(truth, logits.argmax(1).numpy(), CLASSES)["pixel_accuracy"])
    # The trainer's epoch mean: batch sums over chips = chip-weighted mean of batch accuracies.
    batches = [(0, 3), (3, 7)]
    sums = [metric.batch_sum(logits[a:b], targets[a:b]) for a, b in batches]
    accuracies = [metric.value(logits[a:b], targets[a:b]).item() for a, b in batches]
    assert sum(s.item() for s in sums) / 7 == pytest.approx(
        (3 * accuracies[0] + 4 * accuracies[1]) / 7)


def test_pixel_accuracy_has_no_member_sums_and_other_names_are_unchanged():
    with pytest.raises(NotImplementedError, match="pixel_accuracy"):
        RunningMetric("pixel_accuracy").member_sums(torch.zeros(2, 3, 4), torch.zeros(3))
    logits, target = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]]), torch.tensor([0, 0, 0])
    accuracy = RunningMetric("accuracy")
    assert accuracy.batch_sum(logits, target).dtype == torch.int64
    assert accuracy.batch_sum(logits, target).item() == 2
    assert accuracy.value(logits, target).item() == pytest.approx(2 / 3)
