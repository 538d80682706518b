"""Losses for class imbalance: focal, Dice, Tversky, top-k and weighted sums, on tiny cases
worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainwise.config.schema import TaskConfig
from trainwise.training.losses import (CrossEntropyLoss, DiceLoss, FocalLoss, TopKLoss,
                                       TverskyLoss, WeightedSumLoss, build_loss)

# Two rows whose softmax probabilities are exact: [0.75, 0.25] and [0.5, 0.5].
LOGITS = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
TARGET = torch.tensor([0, 1])


def test_focal_with_gamma_zero_is_cross_entropy_with_its_options():
    logits, target = torch.randn(8, 3), torch.tensor([0, 1, 2, 0, 1, 2, 0, 0])
    class_weights = torch.tensor([1.0, 2.0, 5.0])
    focal = FocalLoss(gamma=0.0, class_weights=class_weights, label_smoothing=0.1)
    cross_entropy = CrossEntropyLoss(class_weights, label_smoothing=0.1)
    assert focal(logits, target).item() == pytest.approx(cross_entropy(logits, target).item())
    weight = torch.rand(8)
    assert focal(logits, target, weight).item() == pytest.approx(
        cross_entropy(logits, target, weight).item(), rel=1e-6)


def test_focal_by_hand():
    # Row 1: p_true 0.75, CE -ln 0.75, factor 0.25^2. Row 2: logits [0, ln 3], target 0:
    # p_true 0.25, CE ln 4, factor 0.75^2.
    logits = torch.tensor([[math.log(3.0), 0.0], [0.0, math.log(3.0)]])
    target = torch.tensor([0, 0])
    rows = [0.25 ** 2 * -math.log(0.75), 0.75 ** 2 * math.log(4.0)]
    assert FocalLoss(gamma=2.0)(logits, target).item() == pytest.approx(sum(rows) / 2)
    # The paper's alpha for two classes: 1 - a on the first class (both rows here).
    alpha = torch.tensor([0.75, 0.25])
    assert FocalLoss(2.0, alpha)(logits, target).item() == pytest.approx(0.75 * sum(rows) / 2)


def test_focal_gradient_is_finite_on_a_sure_row_for_gamma_below_one():
    logits = torch.tensor([[60.0, -60.0]], requires_grad=True)
    FocalLoss(gamma=0.5)(logits, torch.tensor([0])).backward()
    assert torch.isfinite(logits.grad).all()


def test_dice_by_hand_on_two_rows():
    # Class 0: TP 0.75, FP 0.5, FN 0.25 -> Dice 1.5/2.25. Class 1: TP 0.5, FP 0.25, FN 0.5
    # -> Dice 1/1.75. Loss = 1 - mean.
    expected = 1 - (1.5 / 2.25 + 1.0 / 1.75) / 2
    assert DiceLoss(smooth=0.0)(LOGITS, TARGET).item() == pytest.approx(expected)


def test_tversky_by_hand_and_at_one_half_it_is_dice():
    # alpha 0.1 (FP), beta 0.9 (FN): class 0: 0.75 / (0.75 + 0.05 + 0.225); class 1:
    # 0.5 / (0.5 + 0.025 + 0.45).
    expected = 1 - (0.75 / 1.025 + 0.5 / 0.975) / 2
    assert TverskyLoss(0.1, 0.9, smooth=0.0)(LOGITS, TARGET).item() == pytest.approx(expected)
    logits, target = torch.randn(16, 4), torch.randint(0, 4, (16,))
    for smooth in (0.0, 1.0):
        assert TverskyLoss(0.5, 0.5, smooth)(logits, target).item() == pytest.approx(
            DiceLoss(smooth)(logits, target).item())


def test_dice_row_weights_act_inside_the_soft_counts():
    # Weight 0 removes row 2 from every count: the same as the batch of row 1 alone.
    weighted = DiceLoss(smooth=0.0)(LOGITS, TARGET, torch.tensor([1.0, 0.0]))
    assert weighted.item() == pytest.approx(DiceLoss(smooth=0.0)(LOGITS[:1], TARGET[:1]).item())
    # Without smoothing the index is a ratio of counts: scaling every weight changes nothing.
    assert DiceLoss(smooth=0.0)(LOGITS, TARGET, torch.full((2,), 3.0)).item() == pytest.approx(
        DiceLoss(smooth=0.0)(LOGITS, TARGET).item())


def test_dice_class_weights_weigh_the_per_class_terms():
    per_class = torch.tensor([1 - 1.5 / 2.25, 1 - 1.0 / 1.75])
    weights = torch.tensor([1.0, 3.0])
    loss = DiceLoss(smooth=0.0, class_weights=weights)(LOGITS, TARGET)
    assert loss.item() == pytest.approx(((per_class * weights).sum() / weights.sum()).item())


def test_smoothing_keeps_an_absent_class_finite():
    logits = torch.tensor([[5.0, -5.0, -5.0], [4.0, -4.0, -4.0]])
    value = TverskyLoss(0.3, 0.7, smooth=1.0)(logits, torch.tensor([0, 0]))
    assert math.isfinite(value.item()) and 0.0 <= value.item() < 1.0


def test_topk_averages_the_hardest_rows_only():
    logits = torch.tensor([[4.0, 0.0], [0.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    target = torch.tensor([0, 0, 0, 0])
    rows = F.cross_entropy(logits, target, reduction="none")  # hardest: row 3, then row 2
    assert TopKLoss(CrossEntropyLoss(), 0.25)(logits, target).item() == pytest.approx(
        rows[2].item())
    assert TopKLoss(CrossEntropyLoss(), 0.5)(logits, target).item() == pytest.approx(
        ((rows[2] + rows[1]) / 2).item())
    # The whole batch is plain cross-entropy; a tiny fraction still keeps one row.
    assert TopKLoss(CrossEntropyLoss(), 1.0)(logits, target).item() == pytest.approx(
        rows.mean().item())
    assert TopKLoss(CrossEntropyLoss(), 0.01)(logits, target).item() == pytest.approx(
        rows.max().item())


def test_topk_with_class_and_row_weights_keeps_the_weighted_mean():
    logits, target = torch.randn(10, 3), torch.randint(0, 3, (10,))
    class_weights, weight = torch.tensor([1.0, 2.0, 3.0]), torch.rand(10)
    base = CrossEntropyLoss(class_weights)
    assert TopKLoss(base, 1.0)(logits, target, weight).item() == pytest.approx(
        base(logits, target, weight).item(), rel=1e-6)


def test_weighted_sum_adds_the_terms():
    loss = WeightedSumLoss({"cross_entropy": (1.0, CrossEntropyLoss()),
                            "dice": (0.5, DiceLoss(smooth=0.0))})
    expected = F.cross_entropy(LOGITS, TARGET) + 0.5 * DiceLoss(smooth=0.0)(LOGITS, TARGET)
    assert loss(LOGITS, TARGET).item() == pytest.approx(expected.item())


@pytest.mark.parametrize("loss, kind", [
    ("cross_entropy", CrossEntropyLoss), ("focal", FocalLoss), ("dice", DiceLoss),
    ("tversky", TverskyLoss), ("topk", TopKLoss),
    ({"cross_entropy": 1.0, "dice": 0.5}, WeightedSumLoss), ({"focal": 2.0}, WeightedSumLoss),
])
def test_build_loss_by_config_name(loss, kind):
    built = build_loss(TaskConfig(type="classification", loss=loss))
    assert type(built) is kind
    value = built(torch.randn(6, 3, requires_grad=True), torch.randint(0, 3, (6,)))
    value.backward()


def test_build_loss_passes_the_parameters():
    task = TaskConfig(type="classification", loss={"tversky": 1.0, "topk": 0.5},
                      tversky_alpha=0.2, tversky_beta=0.8, dice_smooth=0.0, topk_fraction=0.25)
    built = build_loss(task, class_weights=torch.tensor([1.0, 2.0]))
    tversky, topk = built.terms["tversky"], built.terms["topk"]
    assert (tversky.alpha, tversky.beta, tversky.smooth, topk.fraction) == (0.2, 0.8, 0.0, 0.25)
    assert torch.equal(tversky.class_weights, torch.tensor([1.0, 2.0]))
    assert built.coefficients == {"tversky": 1.0, "topk": 0.5}
