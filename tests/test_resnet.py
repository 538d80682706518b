"""The resnet preset: shapes, parameter names, and one training step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainwise.config.load import load_config
from trainwise.errors import UserError
from trainwise.models import ResNet, build_model, summarize_model


def _resnet(shape: tuple[int, ...], n_outputs: int = 10, **model) -> ResNet:
    cfg = load_config({"data": {"source": "x.csv", "target": "y"},
                       "model": {"name": "resnet", **model}})
    return build_model(cfg.model, shape, n_outputs)


@pytest.mark.parametrize("shape", [(3, 32, 32), (13, 16, 16), (2, 64)])
def test_resnet_builds_and_takes_one_optimizer_step(shape):
    model = _resnet(shape, dropout=0.1)
    images, labels = torch.randn(4, *shape), torch.tensor([0, 1, 2, 3])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.head.weight.detach().clone()
    logits = model(images)
    assert logits.shape == (4, 10)
    nn.functional.cross_entropy(logits, labels).backward()
    optimizer.step()
    assert not torch.equal(model.head.weight, before)
    assert model.stages[0].conv1.weight.grad.abs().sum() > 0  # the gradient reaches stage 0


def test_stages_follow_the_widths_and_project_when_shapes_change():
    model = _resnet((3, 32, 32), widths=[8, 8, 16])
    assert [stage.conv2.out_channels for stage in model.stages] == [8, 8, 16]
    assert [stage.conv1.stride for stage in model.stages] == [(1, 1), (2, 2), (2, 2)]
    assert model.stages[0].shortcut is not None  # 3 -> 8 channels
    assert model.stages[1].shortcut is not None  # stride 2
    summary = summarize_model(model, (3, 32, 32))
    pooled = [layer["output_shape"] for layer in summary["layers"]
              if layer["type"] == "GlobalAvgPool"]
    assert pooled == [[1, 16]]
    names = [name for name, _ in model.named_parameters()]
    assert names[0] == "stages.0.conv1.weight" and names[-1] == "head.bias"


def test_kaiming_init_reaches_the_resnet_convs():
    torch.manual_seed(0)
    default = _resnet((3, 8, 8))
    torch.manual_seed(0)
    chosen = _resnet((3, 8, 8), init="kaiming_normal")
    assert not torch.equal(default.stages[0].conv1.weight, chosen.stages[0].conv1.weight)


def test_resnet_refuses_feature_vectors():
    with pytest.raises(UserError, match=r"inputs are shaped \(7,\) \(features\)"):
        _resnet((7,))
