"""Transfer from a run on fewer bands: the first convolution copied and scaled
(``training/band_transfer.py``, ``model.band_map``), and frozen batch norms held in eval mode."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest
import rasterio
import torch
import torch.nn.functional as F
import yaml
from click.testing import CliRunner
from safetensors.torch import load_file

from tests.helpers import InterruptAtStep, assert_same_run
from tests.test_raster_inputs import raster_config
from trainwise import fit, resume
from trainwise.callbacks import Callback
from trainwise.callbacks.freeze import FreezeSchedule
from trainwise.cli.main import cli
from trainwise.config.load import load_config
from trainwise.datasets.scene import make_scene
from trainwise.errors import UserError
from trainwise.models import UNet
from trainwise.training.band_transfer import adapt_first_conv
from trainwise.training.transfer import describe_init_report

RGB = ["blue", "green", "red"]
SIX = ["blue", "green", "red", "nir", "swir1", "swir2"]
FIRST_CONV = "encoder.levels.0.conv1.weight"


def _weight(bands: int, out: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(out, bands, 3, 3, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------- adapt_first_conv
def test_no_names_in_common_repeats_the_filters_and_scales_them():
    source = _weight(3)
    weight, bands = adapt_first_conv(source, ["r", "g", "b"], [f"band{i}" for i in range(6)], {})
    assert weight.shape == (4, 6, 3, 3)
    for channel in range(6):  # band i takes source i % 3, times 3 / 6
        assert torch.equal(weight[:, channel], source[:, channel % 3] * 0.5)
    assert [(item["from"], item["scale"]) for item in bands] == \
        [("r", 0.5), ("g", 0.5), ("b", 0.5)] * 2
    assert {item["rule"] for item in bands} == {"repeated: no band names in common"}
    # Uneven counts: each source band's copies add up to its filter once.
    weight, bands = adapt_first_conv(source, ["r", "g", "b"], ["a", "b2", "c", "d"], {})
    assert [item["scale"] for item in bands] == [0.5, 1.0, 1.0, 0.5]
    assert torch.equal(weight[:, 0] + weight[:, 3], source[:, 0])
    # Same count, no names in common: a plain copy.
    weight, _ = adapt_first_conv(source, ["r", "g", "b"], ["band1", "band2", "band3"], {})
    assert torch.equal(weight, source)


def test_bands_with_the_same_name_keep_their_filters_and_new_bands_start_at_zero():
    source = _weight(3)
    weight, bands = adapt_first_conv(source, RGB, SIX, {})
    assert torch.equal(weight[:, :3], source) and not weight[:, 3:].any()
    assert [(item["band"], item["from"], item["scale"]) for item in bands] == [
        ("blue", "blue", 1.0), ("green", "green", 1.0), ("red", "red", 1.0),
        ("nir", None, 0.0), ("swir1", None, 0.0), ("swir2", None, 0.0)]
    # The pretrained response is exactly preserved, whatever the new bands hold.
    x = torch.randn(2, 6, 8, 8)
    assert torch.allclose(F.conv2d(x, weight), F.conv2d(x[:, :3], source), atol=1e-6)
    # Names, not positions: the same bands in another order are reordered.
    weight, _ = adapt_first_conv(source, RGB, ["red", "nir", "blue", "green"], {})
    assert torch.equal(weight[:, [2, 3, 0]], source) and not weight[:, 1].any()


def test_band_map_shares_a_source_filter_evenly_so_the_response_is_kept():
    source = _weight(3)
    weight, bands = adapt_first_conv(source, RGB, SIX, {"nir": "red", "swir1": "red",
                                                        "swir2": "green"})
    by_band = {item["band"]: (item["from"], item["scale"], item["rule"]) for item in bands}
    assert by_band["blue"] == ("blue", 1.0, "same name")
    assert by_band["red"] == ("red", pytest.approx(1 / 3), "same name")  # itself included
    assert by_band["nir"] == by_band["swir1"] == ("red", pytest.approx(1 / 3), "model.band_map")
    assert by_band["green"][:2] == by_band["swir2"][:2] == ("green", 0.5)
    assert torch.allclose(weight[:, 3], source[:, 2] / 3)
    # Where the mapped bands carry their source's signal, the first layer answers as before.
    rgb = torch.randn(2, 3, 8, 8)
    six = torch.cat([rgb, rgb[:, [2, 2, 1]]], dim=1)
    assert torch.allclose(F.conv2d(six, weight), F.conv2d(rgb, source), atol=1e-5)
    # A band_map may also override a same-named band.
    weight, bands = adapt_first_conv(source, RGB, RGB, {"red": "green"})
    assert torch.equal(weight[:, 1], weight[:, 2]) and torch.equal(weight[:, 2],
                                                                   source[:, 1] / 2)


def test_unknown_band_names_in_band_map_list_the_valid_ones_on_each_side():
    with pytest.raises(UserError) as caught:
        adapt_first_conv(_weight(3), RGB, SIX, {"nri": "red", "swir1": "redd"})
    message = str(caught.value)
    assert "model.band_map" in message
    assert "'nri' not among this run's bands (blue, green, red, nir, swir1, swir2)" in message
    assert "'redd' not among the source run's bands (blue, green, red)" in message


@pytest.mark.parametrize(("model", "expected"), [
    ({"band_map": {"nir": "red"}}, "model.band_map .* model.init_from is not set"),
    ({"band_map": {"nir": "red"}, "init_from": "runs/x"}, "model.init_from_strict: false"),
])
def test_band_map_needs_a_partial_init_from(model, expected):
    with pytest.raises(UserError, match=expected):
        load_config({"data": {"source": "x.csv", "target": "y"}, "model": model})


# ----------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """A 6-band scene and its RGB copy (blue, green, red, named so), sharing the labels."""
    root = tmp_path_factory.mktemp("bands")
    six = root / "six"
    make_scene(six, size=192, seed=3)
    rgb = root / "rgb"
    rgb.mkdir()
    for name in ("labels.tif", "classes.csv"):
        shutil.copy(six / name, rgb / name)
    with rasterio.open(six / "scene.tif") as src:
        profile, values = src.profile, src.read(indexes=[1, 2, 3])
        assert list(src.descriptions) == SIX
    profile.update(count=3)
    with rasterio.open(rgb / "scene.tif", "w", **profile) as dst:
        dst.write(values)
        dst.descriptions = tuple(RGB)
    return SimpleNamespace(six=six, rgb=rgb, runs=root / "runs")


@pytest.fixture(scope="module")
def rgb_run(scenes):
    cfg = raster_config(scenes.rgb, train_chips=16)
    return fit(cfg, runs_dir=scenes.runs, progress=False)


class StartingState(Callback):
    """The model's tensors as training begins (after init_from, before the first step)."""

    def on_train_begin(self, trainer):
        self.state = {name: tensor.detach().clone()
                      for name, tensor in trainer.model.state_dict().items()}


def _transfer_config(scenes, rgb_run, epochs=2, **model) -> dict:
    cfg = raster_config(scenes.six, train_chips=16)
    cfg["model"].update(init_from=str(rgb_run.path), init_from_strict=False, **model)
    cfg["train"]["epochs"] = epochs
    return cfg


def test_a_six_band_run_starts_from_the_rgb_runs_weights(scenes, rgb_run, capsys):
    start = StartingState()
    run = fit(_transfer_config(scenes, rgb_run), runs_dir=scenes.runs, callbacks=[start])
    source = load_file(rgb_run.path / "model.safetensors")
    expected, _ = adapt_first_conv(source[FIRST_CONV], RGB, SIX, {})
    assert torch.equal(start.state[FIRST_CONV], expected)
    others = [name for name in start.state if name != FIRST_CONV]
    assert len(others) > 40
    for name in others:  # every other tensor, batch norm statistics and the head included
        assert torch.equal(start.state[name], source[name]), name
    report = json.loads((run.path / "init_from.json").read_text())
    assert report["first_conv"]["name"] == FIRST_CONV
    assert report["first_conv"]["from_bands"] == RGB and report["first_conv"]["to_bands"] == SIX
    assert report["first_conv"]["bands"][3] == {"band": "nir", "from": None, "scale": 0.0,
                                                "rule": "new band: starts at zero"}
    assert report["skipped"] == [] and FIRST_CONV in report["loaded"]
    # A fresh preprocessing for six bands, the classes in the source's order.
    prep = json.loads((run.path / "preprocessing.json").read_text())
    assert prep["band_names"] == SIX
    assert prep["classes"] == json.loads((rgb_run.path / "preprocessing.json").read_text())[
        "classes"]
    printed = capsys.readouterr().err
    assert "adapted encoder.levels.0.conv1.weight from 3 bands (blue, green, red) to 6" in printed
    assert "nir=0" in printed
    assert describe_init_report(report) in printed
    assert run.history[-1]["epoch"] == 2


def test_band_map_run_copies_the_mapped_filters(scenes, rgb_run):
    start = StartingState()
    run = fit(_transfer_config(scenes, rgb_run, epochs=1,
                               band_map={"nir": "red", "swir1": "red", "swir2": "green"}),
              runs_dir=scenes.runs, progress=False, callbacks=[start])
    source = load_file(rgb_run.path / "model.safetensors")[FIRST_CONV]
    weight = start.state[FIRST_CONV]
    assert torch.equal(weight[:, 0], source[:, 0])
    for channel in (2, 3, 4):
        assert torch.allclose(weight[:, channel], source[:, 2] / 3)
    assert torch.allclose(weight[:, 1], source[:, 1] / 2)
    assert torch.allclose(weight[:, 5], source[:, 1] / 2)
    bands = json.loads((run.path / "init_from.json").read_text())["first_conv"]["bands"]
    assert [item["rule"] for item in bands] == ["same name"] * 3 + ["model.band_map"] * 3


def test_unknown_band_map_names_stop_before_a_run_is_written(scenes, rgb_run, tmp_path):
    with pytest.raises(UserError, match="'nri' not among this run's bands"):
        fit(_transfer_config(scenes, rgb_run, band_map={"nri": "red"}),
            runs_dir=tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs").exists() or \
        not [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]


def test_strict_init_from_on_other_bands_exits_2_with_the_hint(scenes, rgb_run, tmp_path):
    cfg = _transfer_config(scenes, rgb_run)
    cfg["model"]["init_from_strict"] = True
    path = tmp_path / "strict.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(cli, ["train", str(path), "--runs-dir", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "has 6 bands, but the model was trained on 3 (blue, green, red)" in message
    assert "set model.init_from_strict: false to copy and scale the first convolution" in message


# ----------------------------------------------------------------- frozen batch norm
def _norm_buffers(model, prefix: str) -> dict:
    return {name: tensor.clone() for name, tensor in model.state_dict().items()
            if name.startswith(prefix) and ("running" in name or "num_batches" in name)}


def test_frozen_batch_norm_layers_keep_their_statistics_until_unfrozen():
    torch.manual_seed(0)
    model = UNet(3, 2, depth=2, width=4, batch_norm=True)
    schedule = FreezeSchedule(model, ["encoder.*"], {2: ["encoder.*"]})
    trainer = SimpleNamespace(state=SimpleNamespace(epoch=0))
    schedule.on_train_begin(trainer)
    encoder, decoder = _norm_buffers(model, "encoder."), _norm_buffers(model, "decoder.")
    model.train()  # what the trainer (and every validation pass) does: it must not undo it
    model(torch.randn(4, 3, 16, 16))
    assert all(torch.equal(t, encoder[n]) for n, t in _norm_buffers(model, "encoder.").items())
    assert not any(torch.equal(t, decoder[n]) for n, t in _norm_buffers(model, "decoder.").items()
                   if "running" in n)
    assert not model.encoder.levels[0].norm1.training and model.decoder.levels[0].norm1.training
    trainer.state.epoch = 1  # epoch 2: unfrozen
    schedule.on_epoch_begin(trainer)
    model(torch.randn(4, 3, 16, 16))
    assert model.encoder.levels[0].norm1.training
    assert not any(torch.equal(t, encoder[n]) for n, t in _norm_buffers(model, "encoder.").items()
                   if "running" in n)
    schedule.on_train_end(trainer)
    assert not model._forward_pre_hooks


class NormModes(Callback):
    """Each epoch's encoder and decoder batch norm modes while training, and the encoder's
    statistics after each epoch."""

    def __init__(self):
        self.modes, self.encoder_stats = {}, {}

    def on_batch_end(self, trainer, loss):
        model = trainer.model
        self.modes[trainer.state.epoch + 1] = (model.encoder.levels[0].norm1.training,
                                               model.decoder.levels[0].norm1.training)

    def on_epoch_end(self, trainer, record):
        self.encoder_stats[record["epoch"]] = _norm_buffers(trainer.model, "encoder.")


def test_a_frozen_encoders_batch_norms_hold_in_training_and_resume_exactly(scenes, tmp_path):
    cfg = raster_config(scenes.six, train_chips=16)
    cfg["model"].update(freeze=["encoder.*"], unfreeze={3: ["encoder.*"]})
    cfg["train"]["epochs"] = 3
    start, modes = StartingState(), NormModes()
    straight = fit(cfg, runs_dir=tmp_path / "a", progress=False, callbacks=[start, modes])
    assert modes.modes == {1: (False, True), 2: (False, True), 3: (True, True)}
    initial = {name: tensor for name, tensor in start.state.items() if name in
               modes.encoder_stats[1]}
    for epoch in (1, 2):
        for name, tensor in modes.encoder_stats[epoch].items():
            assert torch.equal(tensor, initial[name]), (epoch, name)
    assert not torch.equal(modes.encoder_stats[3]["encoder.levels.0.norm1.running_mean"],
                           initial["encoder.levels.0.norm1.running_mean"])
    # Interrupted in the middle of a frozen epoch (2 steps an epoch), then resumed.
    interrupted = fit(cfg, runs_dir=tmp_path / "b", progress=False,
                      callbacks=[InterruptAtStep(3)])
    assert interrupted.status["status"] == "stopped"
    assert_same_run(straight, resume(interrupted.path, runs_dir=tmp_path / "b", progress=False))
