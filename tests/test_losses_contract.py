"""The loss contract: plain means match PyTorch; row weights give weighted means."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trainwise.training.losses import CrossEntropyLoss, HuberLoss, MAELoss, MSELoss


@pytest.mark.parametrize("loss, reference", [
    (MSELoss(), F.mse_loss), (MAELoss(), F.l1_loss), (HuberLoss(0.5),
                                                      lambda p, y: F.huber_loss(p, y, delta=0.5)),
])
def test_regression_losses_match_pytorch_and_weigh_rows(loss, reference):
    prediction, target = torch.randn(6, 1), torch.randn(6)
    assert loss(prediction, target) == pytest.approx(reference(prediction[:, 0], target).item())
    weight = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    # Zero-weight rows drop out: the weighted mean is the mean of the first three.
    assert loss(prediction, target, weight).item() == pytest.approx(
        reference(prediction[:3, 0], target[:3]).item(), rel=1e-6)


def test_cross_entropy_keeps_pytorchs_class_weighted_mean_with_row_weights():
    logits, target = torch.randn(8, 3), torch.tensor([0, 1, 2, 0, 1, 2, 0, 0])
    class_weights = torch.tensor([1.0, 2.0, 5.0])
    loss = CrossEntropyLoss(class_weights, label_smoothing=0.1)
    expected = F.cross_entropy(logits, target, weight=class_weights, label_smoothing=0.1)
    assert loss(logits, target).item() == pytest.approx(expected.item())
    # All-ones row weights change nothing.
    assert loss(logits, target, torch.ones(8)).item() == pytest.approx(expected.item(), rel=1e-6)
    # Doubling every row weight changes nothing either: it is a weighted mean.
    assert loss(logits, target, torch.full((8,), 2.0)).item() == pytest.approx(expected.item(),
                                                                            rel=1e-6)
