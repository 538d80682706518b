"""Networks from a layer list (model.name: cnn): each layer's shape, the errors that name the
layer at fault, initialisation, freezing, the summary, and that gradients flow."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import trainwise
from tests.helpers import small_config
from trainwise.callbacks import DeadUnitMonitor
from trainwise.config.load import load_config
from trainwise.config.schema import ACTIVATIONS, Config, ModelConfig
from trainwise.errors import UserError
from trainwise.fused import fused_eligibility
from trainwise.models import LayerStack, build_model, summarize_model
from trainwise.models.param_patterns import select_parameters
from trainwise.training import InMemoryBatches, Trainer
from trainwise.training.losses import MSELoss
from trainwise.training.running_metric import RunningMetric

DATA = {"source": "x.csv", "target": "y"}


def _config(layers: list, **model) -> Config:
    return load_config({"data": DATA, "model": {"name": "cnn", "layers": layers, **model}})


def _stack(layers: list, shape: tuple[int, ...], n_outputs: int = 2, **model) -> LayerStack:
    return build_model(_config(layers, **model).model, shape, n_outputs)


def _layer_output_shape(layer: dict, shape: tuple[int, ...]) -> tuple[int, ...]:
    stack = _stack([layer], shape).eval()
    with torch.no_grad():
        return tuple(stack.layers(torch.randn(3, *shape)).shape[1:])


# ----------------------------------------------------------------- each layer's shape
CONV = {"filters": 4, "kernel": 3}
SHAPES = [
    ({"type": "conv1d", **CONV}, (2, 10), (4, 10)),
    ({"type": "conv1d", **CONV, "padding": "valid"}, (2, 10), (4, 8)),
    ({"type": "conv1d", **CONV, "padding": 2, "activation": "relu"}, (2, 10), (4, 12)),
    ({"type": "conv1d", **CONV, "stride": 2}, (2, 11), (4, 6)),  # ceil(11 / 2)
    ({"type": "conv2d", **CONV}, (2, 8, 6), (4, 8, 6)),
    ({"type": "conv2d", **CONV, "padding": "valid", "activation": "tanh"}, (2, 8, 6), (4, 6, 4)),
    ({"type": "conv2d", **CONV, "stride": 2}, (2, 8, 6), (4, 4, 3)),
    ({"type": "maxpool1d", "size": 2}, (2, 10), (2, 5)),
    ({"type": "maxpool1d", "size": 3, "stride": 1}, (2, 10), (2, 8)),
    ({"type": "avgpool1d", "size": 2}, (2, 9), (2, 4)),
    ({"type": "maxpool2d", "size": 2}, (2, 8, 6), (2, 4, 3)),
    ({"type": "avgpool2d", "size": 3, "stride": 1}, (2, 8, 6), (2, 6, 4)),
    ({"type": "globalavgpool"}, (2, 10), (2,)),
    ({"type": "globalavgpool"}, (2, 8, 6), (2,)),
    ({"type": "batchnorm"}, (5,), (5,)),
    ({"type": "batchnorm"}, (2, 10), (2, 10)),
    ({"type": "batchnorm"}, (2, 8, 6), (2, 8, 6)),
    ({"type": "dropout", "rate": 0.5}, (2, 8, 6), (2, 8, 6)),
    ({"type": "flatten"}, (2, 10), (20,)),
    ({"type": "flatten"}, (2, 8, 6), (96,)),
    ({"type": "dense", "units": 3}, (5,), (3,)),
    ({"type": "dense", "units": 3, "activation": "relu"}, (2, 10), (3,)),
    ({"type": "dense", "units": 3}, (2, 8, 6), (3,)),
] + [({"type": "activation", "name": name}, (2, 10), (2, 10)) for name in ACTIVATIONS]


@pytest.mark.parametrize(("layer", "shape", "expected"), SHAPES,
                         ids=[f"{layer['type']}-{len(shape)}d-{i}"
                              for i, (layer, shape, _) in enumerate(SHAPES)])
def test_each_layer_gives_its_output_shape(layer, shape, expected):
    assert _layer_output_shape(layer, shape) == expected


def test_batch_norm_follows_the_inputs_rank():
    kinds = [type(_stack([{"type": "batchnorm"}], shape).layers[0]).__name__
             for shape in [(5,), (2, 10), (2, 8, 6)]]
    assert kinds == ["BatchNorm1d", "BatchNorm1d", "BatchNorm2d"]


def test_leaky_relu_takes_its_own_slope_or_the_models():
    layers = [{"type": "activation", "name": "leaky_relu"},
              {"type": "activation", "name": "leaky_relu", "slope": 0.3},
              {"type": "conv1d", **CONV, "activation": "leaky_relu"}]
    stack = _stack(layers, (2, 10), leaky_relu_slope=0.2)
    assert stack.layers[0].negative_slope == 0.2 and stack.layers[1].negative_slope == 0.3
    assert stack.layers[2].activation.negative_slope == 0.2


@pytest.mark.parametrize("shape", [(2, 16), (3, 8, 8)])
def test_the_head_flattens_and_gives_one_column_per_output(shape):
    conv = "conv1d" if len(shape) == 2 else "conv2d"
    stack = _stack([{"type": conv, **CONV, "activation": "relu"}], shape, n_outputs=5)
    assert stack(torch.randn(7, *shape)).shape == (7, 5)
    assert stack.head.in_features == 4 * math.prod(shape[1:])


def test_building_leaves_batch_norm_statistics_untouched_and_is_seeded():
    layers = [{"type": "conv2d", **CONV}, {"type": "batchnorm"}, {"type": "dropout", "rate": 0.5},
              {"type": "dense", "units": 3}, {"type": "batchnorm"}]
    torch.manual_seed(3)
    first = _stack(layers, (1, 6, 6))
    torch.manual_seed(3)
    second = _stack(layers, (1, 6, 6))
    assert first.training and first.layers[1].num_batches_tracked == 0
    assert torch.equal(first.layers[1].running_mean, torch.zeros(4))
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("conv", ["conv1d", "conv2d"])
def test_pooling_before_the_relu_computes_exactly_the_listed_order(conv):
    pool = "maxpool1d" if conv == "conv1d" else "maxpool2d"
    layers = [{"type": conv, "filters": 6, "kernel": 3, "activation": "relu"},
              {"type": pool, "size": 2},
              {"type": conv, "filters": 8, "kernel": 3, "activation": "relu"},
              {"type": pool, "size": 2}, {"type": "globalavgpool"}]
    shape = (2, 16) if conv == "conv1d" else (2, 16, 16)
    torch.manual_seed(0)
    stack = _stack(layers, shape, n_outputs=3)
    dims = conv[4]
    assert [type(step).__name__ for step in stack._steps][:3] == [f"Conv{dims}d",
                                                                   f"MaxPool{dims}d", "ReLU"]
    x = torch.randn(32, *shape)
    as_fast, as_listed = [], []
    for steps, grads in ((stack._steps, as_fast), (list(stack.layers), as_listed)):
        stack._steps = steps
        stack.zero_grad()
        output = stack(x)
        output.square().sum().backward()
        grads += [output.detach()] + [p.grad.clone() for p in stack.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(as_fast, as_listed))


def test_the_summary_lists_every_layers_output_shape():
    layers = [{"type": "conv2d", "filters": 4, "kernel": 3, "activation": "relu"},
              {"type": "maxpool2d", "size": 2}, {"type": "globalavgpool"},
              {"type": "dense", "units": 6}]
    summary = summarize_model(_stack(layers, (1, 8, 8), n_outputs=3), (1, 8, 8))
    shapes = {layer["type"]: layer["output_shape"] for layer in summary["layers"]}
    # The ReLU runs after the pool (see cnn._pool_before_relu), so it sees the pooled shape.
    assert shapes == {"Conv2d": [1, 4, 8, 8], "ReLU": [1, 4, 4, 4], "MaxPool2d": [1, 4, 4, 4],
                      "GlobalAvgPool": [1, 4], "Linear": [1, 3]}
    assert [layer["output_shape"] for layer in summary["layers"]][-2:] == [[1, 6], [1, 3]]
    assert summary["total_params"] == (4 * 9 + 4) + (4 * 6 + 6) + (6 * 3 + 3)


# ----------------------------------------------------------------- shapes that do not fit
@pytest.mark.parametrize(("layers", "shape", "expected"), [
    ([{"type": "conv2d", **CONV}], (2, 100),
     ["model.layers[0] (conv2d, 4 filters, kernel 3)", "(2, 100) (channels, length)",
      "use conv1d"]),
    ([{"type": "conv1d", "filters": 4, "kernel": 9, "padding": "valid"}], (2, 5),
     ["model.layers[0] (conv1d", "too small for kernel 9"]),
    ([{"type": "conv2d", "filters": 16, "kernel": 3}] + [{"type": "maxpool2d", "size": 2}] * 4,
     (1, 8, 8), ["model.layers[4] (maxpool2d, size 2)", "(16, 1, 1) (channels, height, width)",
                 "too small to pool"]),
    ([{"type": "conv1d", **CONV}, {"type": "flatten"}, {"type": "conv1d", **CONV}], (2, 10),
     ["model.layers[2] (conv1d", "(40,) (features)", "move this layer before"]),
    ([{"type": "maxpool1d", "size": 2}], (6,), ["model.layers[0] (maxpool1d", "flat feature"]),
    ([{"type": "globalavgpool"}, {"type": "globalavgpool"}], (2, 4),
     ["model.layers[1] (globalavgpool)"]),
])
def test_a_misfit_names_the_layer_its_input_shape_and_the_fix(layers, shape, expected):
    with pytest.raises(UserError) as caught:
        _stack(layers, shape)
    for text in expected:
        assert text in str(caught.value)


# ----------------------------------------------------------------- config
@pytest.mark.parametrize(("layers", "expected"), [
    ([{"type": "flatten"}, {"type": "conv3d", "filters": 4}],
     ["model.layers[1]", "unknown layer type 'conv3d'", "conv2d"]),
    ([{"type": "conv2d", "filtres": 4, "kernel": 3}],
     ["model.layers[0] (conv2d)", "unknown key 'filtres'", "did you mean 'filters'"]),
    (["conv2d"], ["model.layers[0]", "mapping", "not 'conv2d'"]),
    ([{"type": "dense"}], ["model.layers[0] (dense)", "'units' is required"]),
    ([{"filters": 4}], ["model.layers[0]", "no 'type'"]),
    ([{"type": "dropout", "rate": 1.5}], ["model.layers[0] (dropout)", "rate"]),
    ([{"type": "activation", "name": "relu", "slope": 0.1}], ["leaky_relu only"]),
    ([{"type": "conv1d", **CONV, "activation": "relux"}], ["unknown activation 'relux'"]),
    ([{"type": "conv1d", **CONV, "padding": "full"}], ["model.layers[0] (conv1d)", "padding"]),
])
def test_layer_config_errors_name_the_entry(layers, expected):
    with pytest.raises(UserError) as caught:
        _config(layers)
    for text in expected:
        assert text in str(caught.value)


@pytest.mark.parametrize(("model", "expected"), [
    ({"name": "cnn"}, "model.layers, which is empty"),
    ({"name": "mlp", "layers": [{"type": "flatten"}]}, "model.layers applies to model.name: cnn"),
    ({"name": "cnn", "layers": [{"type": "flatten"}], "dropout": 0.2}, "{type: dropout"),
    ({"name": "resnet", "widths": [16, 0]}, "model.widths"),
])
def test_model_names_and_their_keys_go_together(model, expected):
    with pytest.raises(UserError, match=expected):
        load_config({"data": DATA, "model": model})


def test_a_layer_list_round_trips_through_the_resolved_dump():
    cfg = _config([{"type": "conv1d", **CONV}, {"type": "maxpool1d", "size": 2},
                   {"type": "dense", "units": 3, "activation": "gelu"}])
    dumped = cfg.model_dump(mode="json")
    assert dumped["model"]["layers"][1] == {"type": "maxpool1d", "size": 2, "stride": None}
    assert ModelConfig.model_validate(dumped["model"]) == cfg.model


def test_a_probabilistic_task_needs_the_mlp():
    model_cfg = _config([{"type": "flatten"}]).model
    with pytest.raises(UserError, match="probabilistic_regression needs model.name mlp"):
        build_model(model_cfg, (1, 4, 4), 1, probabilistic=True)


# ----------------------------------------------------------------- init, freeze, fused, dead units
@pytest.mark.parametrize("scheme", ["xavier_uniform", "kaiming_normal", "orthogonal"])
def test_the_configured_init_applies_to_conv_weights(scheme):
    layers = [{"type": "conv2d", **CONV}, {"type": "conv1d", **CONV}]
    torch.manual_seed(0)
    default = _stack(layers[:1], (2, 6, 6))
    torch.manual_seed(0)
    chosen = _stack(layers[:1], (2, 6, 6), init=scheme)
    assert not torch.equal(chosen.layers[0].conv.weight, default.layers[0].conv.weight)
    assert torch.count_nonzero(chosen.layers[0].conv.bias) == 0
    assert torch.count_nonzero(_stack(layers[1:], (2, 6), init=scheme).layers[0].conv.bias) == 0


def test_freeze_patterns_match_conv_parameters_by_layer_index():
    stack = _stack([{"type": "conv1d", **CONV}, {"type": "batchnorm"},
                    {"type": "dense", "units": 3}], (2, 10))
    names = [name for name, _ in stack.named_parameters()]
    assert select_parameters(names, ["layers.0.*"], "model.freeze") == [
        "layers.0.conv.weight", "layers.0.conv.bias"]
    assert select_parameters(names, ["layers.2.*", "head.*"], "model.freeze") == [
        "layers.2.linear.weight", "layers.2.linear.bias", "head.weight", "head.bias"]


def test_the_fused_step_refuses_a_layer_stack():
    verdict = fused_eligibility(_stack([{"type": "dense", "units": 4}], (3,), n_outputs=1),
                                Config(data=DATA), MSELoss())
    assert not verdict and "LayerStack, not the built-in MLP" in verdict.reason


def test_dead_units_count_conv_channels():
    stack = _stack([{"type": "conv2d", **CONV, "activation": "relu"}], (1, 5, 5), n_outputs=1)
    with torch.no_grad():  # channel 0 never fires: its input is always -100
        stack.layers[0].conv.weight[0] = 0.0
        stack.layers[0].conv.bias[0] = -100.0
    features, targets = torch.randn(32, 1, 5, 5), torch.randn(32)
    trainer = Trainer(stack, torch.optim.SGD(stack.parameters(), lr=0.0), MSELoss(),
                      InMemoryBatches(features, targets, 16, seed=0), epochs=1,
                      metric=RunningMetric("mae"), validation=(features, targets),
                      callbacks=[DeadUnitMonitor()])
    assert trainer.fit().history[-1]["dead_units"] == pytest.approx(1 / 4)


# ----------------------------------------------------------------- training
def test_a_small_cnn_overfits_random_images():
    torch.manual_seed(0)
    layers = [{"type": "conv2d", "filters": 8, "kernel": 3, "activation": "relu"},
              {"type": "maxpool2d", "size": 2},
              {"type": "conv2d", "filters": 16, "kernel": 3, "activation": "relu"},
              {"type": "dense", "units": 32, "activation": "relu"}]
    stack = _stack(layers, (1, 8, 8), n_outputs=1)
    images, targets = torch.randn(32, 1, 8, 8), torch.randn(32, 1)
    optimizer = torch.optim.Adam(stack.parameters(), lr=0.01)
    losses = []
    for _ in range(100):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(stack(images), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]


def test_a_layer_list_trains_end_to_end_on_a_table(regression_csv, runs_dir):
    layers = [{"type": "dense", "units": 16, "activation": "relu"}, {"type": "batchnorm"},
              {"type": "dropout", "rate": 0.1}]
    run = trainwise.fit(small_config(regression_csv, epochs=3),
                        {"model.name": "cnn", "model.layers": layers, "model.hidden": []},
                        runs_dir=runs_dir, progress=False)
    assert all(math.isfinite(record["loss"]) for record in run.history)
    assert run.history[-1]["loss"] < run.history[0]["loss"]
