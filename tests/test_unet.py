"""The unet preset: per-pixel output shapes, the size and shape errors, parameter names and
freeze patterns, its config keys, initialisation, and that gradients reach every weight."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainwise.config.load import load_config
from trainwise.errors import UserError
from trainwise.models import UNet, build_model, summarize_model
from trainwise.models.param_patterns import matching_names

DATA = {"source": "x.csv", "target": "y"}  # only the model is built; the data is never read


def _unet(shape: tuple[int, ...], n_outputs: int = 3, **model) -> UNet:
    cfg = load_config({"data": DATA, "model": {"name": "unet", "depth": 2, "width": 4,
                                                **model}})
    return build_model(cfg.model, shape, n_outputs)


def _names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_parameters()]


@pytest.mark.parametrize(("bands", "size", "depth", "width", "n_outputs"), [
    (1, 16, 1, 4, 2),
    (3, 32, 2, 8, 5),
    (13, 16, 3, 4, 3),  # Sentinel-2's band count
    (4, 64, 4, 2, 1),
])
def test_output_has_one_channel_per_class_at_the_input_size(bands, size, depth, width,
                                                            n_outputs):
    model = _unet((bands, size, size), n_outputs, depth=depth, width=width).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, bands, size, size))
    assert logits.shape == (2, n_outputs, size, size)
    assert model.first_conv.in_channels == bands
    assert model.encoder.bottleneck.conv2.out_channels == width * 2**depth


def test_rectangular_chips_work():
    model = _unet((2, 16, 24)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 2, 16, 24)).shape == (1, 3, 16, 24)


@pytest.mark.parametrize(("shape", "fix"), [
    ((4, 30, 32), r"or a smaller depth \(model.depth: 1 fits\)"),
    ((4, 32, 31), r"multiple of 8$"),  # odd: no depth fits, only the chip size
])
def test_sizes_that_depth_does_not_divide_name_model_depth(shape, fix):
    with pytest.raises(UserError, match=r"model.depth 3 .* multiples of 2\*\*3 = 8, but the "
                                        rf"input is {shape[1]}x{shape[2]}") as caught:
        _unet(shape, depth=3)
    assert "use a chip size that is a multiple of 8" in str(caught.value)
    with pytest.raises(UserError, match=fix):
        _unet(shape, depth=3)


def test_forward_checks_the_size_too():
    model = _unet((2, 16, 16))  # depth 2
    with pytest.raises(UserError, match=r"model.depth 2 .* input is 18x16"):
        model(torch.randn(1, 2, 18, 16))


@pytest.mark.parametrize(("shape", "described"), [
    ((7,), r"\(7,\) \(features\)"),
    ((2, 64), r"\(2, 64\) \(channels, length\)"),
])
def test_non_images_are_refused(shape, described):
    with pytest.raises(UserError, match=rf"model.name unet takes images \(channels, height, "
                                        rf"width\).*inputs are shaped {described}"):
        _unet(shape)


def test_parameter_names_read_well_in_freeze_patterns():
    model = _unet((4, 16, 16), depth=2)
    names = _names(model)
    assert names[0] == "encoder.levels.0.conv1.weight"
    assert names[-2:] == ["head.weight", "head.bias"]
    assert {name.split(".")[0] for name in names} == {"encoder", "decoder", "head"}
    assert "encoder.bottleneck.conv1.weight" in names
    assert {"decoder.ups.0.weight", "decoder.ups.1.weight",
            "decoder.levels.1.conv2.weight"} <= set(names)
    encoder = matching_names(names, "encoder.*")
    assert "encoder.levels.0.conv1.weight" in encoder
    assert not any(name.startswith(("head.", "decoder.")) for name in encoder)
    assert model.encoder.levels[0].conv1 is model.first_conv
    by_id = {id(p): name for name, p in model.named_parameters()}
    assert [by_id[id(p)] for p in model.encoder_parameters()] == encoder
    assert ([by_id[id(p)] for p in model.decoder_parameters()]
            == [name for name in names if name not in encoder])


def test_freezing_the_encoder_by_config_pattern_leaves_the_rest_training():
    cfg = load_config({"data": DATA, "model": {"name": "unet", "depth": 1, "width": 4,
                                               "freeze": ["encoder.*"]}})
    model = build_model(cfg.model, (3, 8, 8), 2)
    frozen = matching_names(_names(model), cfg.model.freeze[0])
    assert len(frozen) == len(list(model.encoder_parameters()))


def test_batch_norm_adds_a_norm_after_each_conv_and_drops_the_conv_biases():
    plain = _unet((3, 16, 16), batch_norm=False)
    normed = _unet((3, 16, 16), batch_norm=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    convs = [m for m in normed.modules() if type(m) is nn.Conv2d and m.kernel_size == (3, 3)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in normed.modules()) == len(convs) == 10
    assert all(conv.bias is None for conv in convs)
    assert list(plain.encoder.levels[0]._modules) == ["conv1", "act1", "conv2", "act2"]
    assert list(normed.encoder.levels[0]._modules) == ["conv1", "norm1", "act1",
                                                       "conv2", "norm2", "act2"]


def test_dropout_adds_dropout2d_after_the_bottleneck():
    assert not any(isinstance(m, nn.Dropout2d) for m in _unet((3, 16, 16)).modules())
    model = _unet((3, 16, 16), dropout=0.3)
    assert isinstance(model.encoder.dropout, nn.Dropout2d) and model.encoder.dropout.p == 0.3


def test_activation_and_slope_reach_every_block():
    model = _unet((3, 16, 16), activation="leaky_relu", leaky_relu_slope=0.2)
    acts = [m for m in model.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 10 and {m.negative_slope for m in acts} == {0.2}


def test_config_round_trips_and_checks_the_new_keys():
    cfg = load_config({"data": DATA, "model": {"name": "unet", "depth": 2, "width": 8}})
    assert (cfg.model.name, cfg.model.depth, cfg.model.width) == ("unet", 2, 8)
    again = load_config(cfg)  # through model_dump, as a saved run's config is read back
    assert (again.model.name, again.model.depth, again.model.width) == ("unet", 2, 8)
    model = build_model(again.model, (6, 32, 32), 4)
    assert model.first_conv.out_channels == 8
    assert model.encoder.bottleneck.conv1.out_channels == 32
    defaults = load_config({"data": DATA, "model": {"name": "unet"}}).model
    assert (defaults.depth, defaults.width) == (3, 16)
    for bad in ({"depth": 0}, {"depth": 7}, {"width": 0}):
        with pytest.raises(UserError, match=f"model.{next(iter(bad))}"):
            load_config({"data": DATA, "model": {"name": "unet", **bad}})


def test_a_seeded_build_is_deterministic():
    torch.manual_seed(7)
    first = _unet((3, 16, 16), init="kaiming_normal").state_dict()
    torch.manual_seed(7)
    second = _unet((3, 16, 16), init="kaiming_normal").state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_init_reaches_the_convs_and_leaves_the_transposed_convs_to_torch():
    torch.manual_seed(0)
    default = _unet((3, 16, 16))
    torch.manual_seed(0)
    chosen = _unet((3, 16, 16), init="kaiming_normal")
    assert not torch.equal(default.first_conv.weight, chosen.first_conv.weight)
    assert not torch.equal(default.head.weight, chosen.head.weight)
    # initialize_weights covers Linear and ConvNd only: ConvTranspose2d keeps torch's init.
    assert torch.equal(default.decoder.ups[0].weight, chosen.decoder.ups[0].weight)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_gradients_reach_every_parameter_and_a_step_stays_finite(batch_norm):
    torch.manual_seed(0)
    model = _unet((4, 16, 16), n_outputs=3, batch_norm=batch_norm, dropout=0.1)
    images, labels = torch.randn(2, 4, 16, 16), torch.randint(0, 3, (2, 16, 16))
    nn.functional.cross_entropy(model(images), labels).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_built_model_is_channels_last_and_summarizes():
    model = _unet((5, 32, 32), n_outputs=2, batch_norm=True)
    assert model.first_conv.weight.is_contiguous(memory_format=torch.channels_last)
    summary = summarize_model(model, (5, 32, 32))
    heads = [layer["output_shape"] for layer in summary["layers"] if layer["type"] == "Conv2d"]
    assert heads[-1] == [1, 2, 32, 32]
    assert summary["total_params"] == sum(p.numel() for p in model.parameters())
    ups = [layer["output_shape"] for layer in summary["layers"]
           if layer["type"] == "ConvTranspose2d"]
    assert ups == [[1, 8, 16, 16], [1, 4, 32, 32]]  # deepest first: width 4 * 2**level
