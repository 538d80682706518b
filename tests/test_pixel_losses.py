"""PixelLoss: any row loss over the valid pixels of (N, K, H, W) logits; ignored pixels have
no say and get no gradient. And 'balanced' class weights from pixel counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from trainwise.config.schema import TaskConfig
from trainwise.training.losses import (IGNORE_LABEL, CrossEntropyLoss, DiceLoss, FocalLoss,
                                       PixelLoss, TopKLoss, TverskyLoss, WeightedSumLoss,
                                       build_loss, pixel_class_weights)

CLASSES = 4
CLASS_WEIGHTS = torch.tensor([1.0, 2.0, 0.5, 3.0])


def batch(seed: int = 0, chips: int = 3, height: int = 5, width: int = 6):
    """Random logits (N, K, H, W) and labels (N, H, W) with about a third of pixels ignored."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(chips, CLASSES, height, width, generator=generator)
    labels = torch.randint(0, CLASSES, (chips, height, width), generator=generator)
    ignored = torch.rand(chips, height, width, generator=generator) < 0.35
    return logits, labels.masked_fill(ignored, IGNORE_LABEL)


def valid_rows(logits: torch.Tensor, labels: torch.Tensor):
    """The reference selection, by hand: (P, K) rows and (P,) labels of the valid pixels,
    and each row's chip."""
    rows, targets, chips = [], [], []
    for n in range(labels.shape[0]):
        for i in range(labels.shape[1]):
            for j in range(labels.shape[2]):
                if labels[n, i, j] != IGNORE_LABEL:
                    rows.append(logits[n, :, i, j])
                    targets.append(labels[n, i, j])
                    chips.append(n)
    return torch.stack(rows), torch.stack(targets), torch.tensor(chips)


INNER_LOSSES = {
    "cross_entropy": lambda: CrossEntropyLoss(CLASS_WEIGHTS, label_smoothing=0.1),
    "focal": lambda: FocalLoss(2.0, torch.tensor([0.25, 0.5, 0.75, 1.0]), CLASS_WEIGHTS),
    "dice": lambda: DiceLoss(1.0, CLASS_WEIGHTS),
    "tversky": lambda: TverskyLoss(0.3, 0.7, smooth=0.5),
    "weighted_sum": lambda: WeightedSumLoss({"cross_entropy": (1.0, CrossEntropyLoss()),
                                             "dice": (0.5, DiceLoss())}),
    "topk": lambda: TopKLoss(CrossEntropyLoss(CLASS_WEIGHTS), fraction=0.3),
}


@pytest.mark.parametrize("name", INNER_LOSSES)
def test_equals_the_inner_loss_on_the_valid_pixels(name):
    logits, labels = batch()
    rows, targets, chips = valid_rows(logits, labels)
    inner = INNER_LOSSES[name]()
    assert PixelLoss(inner)(logits, labels).item() == pytest.approx(
        inner(rows, targets).item(), rel=1e-6)
    # Chip weights: every pixel of chip n carries weight[n].
    weight = torch.tensor([0.5, 2.0, 1.0])
    assert PixelLoss(inner)(logits, labels, weight).item() == pytest.approx(
        inner(rows, targets, weight[chips]).item(), rel=1e-6)


@pytest.mark.parametrize("name", INNER_LOSSES)
def test_ignored_pixels_change_nothing_and_get_zero_gradient(name):
    logits, labels = batch(seed=1)
    ignored = (labels == IGNORE_LABEL)[:, None].expand_as(logits)
    loss = PixelLoss(INNER_LOSSES[name]())

    def value_and_gradient(values):
        values = values.clone().requires_grad_(True)
        value = loss(values, labels)
        value.backward()
        return value.detach(), values.grad

    value, gradient = value_and_gradient(logits)
    assert torch.all(gradient[ignored] == 0)
    assert gradient[~ignored].abs().sum() > 0
    # Anything at the ignored pixels (large, NaN, infinite): the same loss, the same gradient.
    for filler in (100.0, float("nan"), float("inf")):
        changed_value, changed_gradient = value_and_gradient(logits.masked_fill(ignored, filler))
        assert torch.equal(changed_value, value)
        assert torch.equal(changed_gradient, gradient)


def test_gradient_at_valid_pixels_is_the_inner_losss():
    logits, labels = batch(seed=2)
    logits.requires_grad_(True)
    inner = CrossEntropyLoss(CLASS_WEIGHTS)
    PixelLoss(inner)(logits, labels).backward()
    reference = logits.detach().clone().requires_grad_(True)
    rows, targets, _ = valid_rows(reference, labels)
    inner(rows, targets).backward()
    torch.testing.assert_close(logits.grad, reference.grad)


@pytest.mark.parametrize("name", INNER_LOSSES)
def test_a_batch_with_no_valid_pixel_gives_zero_with_a_usable_graph(name):
    logits, _ = batch()
    logits = logits.masked_fill(torch.rand(logits.shape) < 0.1, float("nan")).requires_grad_(True)
    labels = torch.full((3, 5, 6), IGNORE_LABEL)
    weight = torch.ones(3)
    for value in (PixelLoss(INNER_LOSSES[name]())(logits, labels),
                  PixelLoss(INNER_LOSSES[name]())(logits, labels, weight)):
        assert value.item() == 0.0
        assert value.requires_grad
        value.backward()
        assert torch.all(logits.grad == 0)


def test_channels_last_and_flattened_inputs_give_the_same_value():
    logits, labels = batch(seed=3)
    loss = PixelLoss(WeightedSumLoss({"focal": (1.0, FocalLoss(2.0, None, CLASS_WEIGHTS)),
                                      "tversky": (0.5, TverskyLoss(0.2, 0.8))}))
    expected = loss(logits, labels)
    channels_last = logits.contiguous(memory_format=torch.channels_last)
    assert not channels_last.is_contiguous()
    assert torch.equal(loss(channels_last, labels), expected)
    # (N, K, L): the pixels as one axis.
    assert torch.equal(loss(logits.flatten(2), labels.flatten(1)), expected)
    # Channels-last gradients land where they belong too.
    channels_last.requires_grad_(True)
    loss(channels_last, labels).backward()
    plain = logits.clone().requires_grad_(True)
    loss(plain, labels).backward()
    torch.testing.assert_close(channels_last.grad, plain.grad, rtol=0, atol=0)


def test_chip_weights_of_zero_drop_whole_chips():
    logits, labels = batch(seed=4)
    loss = PixelLoss(CrossEntropyLoss(CLASS_WEIGHTS))
    weight = torch.tensor([0.0, 1.0, 0.0])
    assert loss(logits, labels, weight).item() == pytest.approx(
        loss(logits[1:2], labels[1:2]).item(), rel=1e-6)


def test_per_row_is_per_chip_and_keeps_the_row_loss_identity():
    logits, labels = batch(seed=5)
    inner = FocalLoss(2.0, None, CLASS_WEIGHTS)
    loss = PixelLoss(inner)
    per_chip, scale = loss.per_row(logits, labels), loss.row_scale(labels)
    assert per_chip.shape == scale.shape == (3,)
    weight = torch.tensor([0.5, 2.0, 1.0])
    # loss(p, y, w) == sum(w * per_row) / sum(w * row_scale), as for every RowLoss.
    assert loss(logits, labels, weight).item() == pytest.approx(
        ((weight * per_chip).sum() / (weight * scale).sum()).item(), rel=1e-6)
    # per_row / row_scale is each chip's own mean loss.
    for n in range(3):
        assert (per_chip[n] / scale[n]).item() == pytest.approx(
            loss(logits[n:n + 1], labels[n:n + 1]).item(), rel=1e-6)
    # Without class weights the scale is the chip's valid pixel count.
    counts = (labels != IGNORE_LABEL).flatten(1).sum(1).float()
    assert torch.equal(PixelLoss(CrossEntropyLoss()).row_scale(labels), counts)
    # Top-k around a PixelLoss keeps the hardest chips.
    hardest = int(per_chip.argmax())
    assert TopKLoss(loss, fraction=0.2)(logits, labels).item() == pytest.approx(
        (per_chip[hardest] / scale[hardest]).item(), rel=1e-6)


def test_set_losses_have_no_per_row_value():
    logits, labels = batch()
    with pytest.raises(NotImplementedError, match="whole batch"):
        PixelLoss(DiceLoss()).per_row(logits, labels)


def test_mismatched_shapes_are_refused():
    logits, labels = batch()
    with pytest.raises(ValueError, match="N, K, \\*spatial"):
        PixelLoss(CrossEntropyLoss())(logits, labels[:, :, :-1])


def test_wraps_a_built_loss():
    task = TaskConfig(type="classification", loss={"cross_entropy": 1.0, "dice": 0.5})
    loss = PixelLoss(build_loss(task, class_weights=CLASS_WEIGHTS))
    logits, labels = batch()
    rows, targets, _ = valid_rows(logits, labels)
    assert loss(logits, labels).item() == pytest.approx(loss.loss(rows, targets).item())


def test_pixel_class_weights_are_balanced_over_the_valid_pixels():
    _, labels = batch(seed=6, chips=4, height=8, width=8)
    valid = labels[labels != IGNORE_LABEL]
    expected = compute_class_weight("balanced", classes=np.arange(CLASSES), y=valid.numpy())
    torch.testing.assert_close(pixel_class_weights(labels, CLASSES),
                               torch.tensor(expected, dtype=torch.float32))


def test_pixel_class_weights_give_an_absent_class_one():
    labels = torch.tensor([[0, 0, 0, 1], [IGNORE_LABEL] * 4])
    weights = pixel_class_weights(labels, 3)
    # 4 valid pixels: 4 / (3 * 3) and 4 / (3 * 1); class 2 has none (not 4 / 3).
    torch.testing.assert_close(weights, torch.tensor([4 / 9, 4 / 3, 1.0]))
    assert torch.equal(pixel_class_weights(torch.full((2, 2), IGNORE_LABEL), 3),
                       torch.ones(3))


def test_pixel_class_weights_refuse_labels_out_of_range():
    with pytest.raises(ValueError, match="0..2"):
        pixel_class_weights(torch.tensor([0, 3, IGNORE_LABEL]), 3)
    with pytest.raises(ValueError, match="0..2"):
        pixel_class_weights(torch.tensor([0, -2]), 3)
