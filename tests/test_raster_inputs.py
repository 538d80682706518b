"""data.kind raster: chips from a generated scene, spatial blocks, nodata kept out of every
step, exact resume with augmentation, and the bad inputs a user can give."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.windows import Window

from tests.helpers import assert_same_run
from trainwise import fit, resume
from trainwise.cli.main import cli
from trainwise.config.load import load_config
from trainwise.datasets.scene import make_scene
from trainwise.errors import UserError
from trainwise.inputs.raster.chips import SPLITS, block_split
from trainwise.inputs.registry import input_kind_for
from trainwise.training.losses.pixels import IGNORE_LABEL

SIZE = 192  # pixels: 10 m each, so 1,920 m a side


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene") / "scene"
    make_scene(folder, size=SIZE, seed=3)
    return folder


def raster_config(scene, **raster) -> dict:
    return {
        "name": "seg",
        "data": {"kind": "raster", "source": str(scene / "scene.tif"),
                 "raster": {"labels": str(scene / "labels.tif"), "chip_size": 32,
                            "train_chips": 24, **raster},
                 "split": {"method": "spatial_blocks", "block_size": 480, "folds": 4,
                           "val": 0.25},
                 "augment": {"hflip": 0.5, "rot90": 0.5, "brightness": 0.1}},
        "task": {"type": "segmentation", "class_weights": "balanced"},
        "model": {"name": "unet", "depth": 2, "width": 4, "batch_norm": True},
        "train": {"epochs": 2, "batch_size": 8, "lr": 0.01, "seed": 0,
                  "early_stopping": {"enabled": False}},
    }


def prepare(cfg_dict):
    return input_kind_for("raster").prepare(load_config(cfg_dict))


# ----------------------------------------------------------------- config
@pytest.mark.parametrize(("change", "expected"), [
    ({"task": {"type": "classification"}}, "trains task.type: segmentation"),
    ({"model": {"name": "mlp"}}, "Set model.name: unet"),
    ({"data.split": {"method": "random"}}, "spatial_blocks"),
    ({"data.raster": {"labels": None}}, "needs data.raster.labels"),
])
def test_config_mistakes_are_named(scene, change, expected):
    cfg = raster_config(scene)
    for key, value in change.items():
        node = cfg
        for part in key.split("."):
            node = node[part]
        node.clear()
        node.update(value)
    with pytest.raises(UserError, match=expected):
        load_config(cfg)


# ----------------------------------------------------------------- chips and splits
def test_chips_keep_to_their_blocks_and_the_grid_scores_every_pixel(scene):
    cfg = load_config(raster_config(scene))
    data = input_kind_for("raster").prepare(cfg)
    blocks = block_split(SIZE, SIZE, 10.0, cfg.data.split, cfg.data.split.seed or 0)
    x, y = data.arrays["train"]
    assert x.shape[1:] == (6, 32, 32) and y.shape[1:] == (32, 32) and x.dtype == np.float32
    for item in data.sample_ids["train"]:  # "row R, col C": inside training blocks only
        row, col = (int(part.split()[-1]) for part in item.split(","))
        assert (blocks.split_of_pixels(Window(col, row, 32, 32)) == 0).all(), item
    # Every labelled, valid pixel of the validation and test blocks is scored exactly once
    # (192 = 6 chips of 32: the grid does not overlap), edges included.
    with rasterio.open(scene / "scene.tif") as src, rasterio.open(scene / "labels.tif") as lab:
        usable = (src.read() != 0).all(axis=0) & (lab.read(1) != 255)
    split_of = blocks.split_of_pixels(Window(0, 0, SIZE, SIZE))
    for index, split in enumerate(SPLITS):
        if split != "train":
            assert data.summary["labelled_pixels"][split] == (usable & (split_of == index)).sum()
    assert data.summary["rows"]["train"] == 24


def test_nodata_is_ignored_and_never_moves_the_statistics(scene, tmp_path):
    """Change every nodata pixel's other bands (band 1 stays nodata): chips, statistics,
    loss and metrics stay bit for bit the same."""
    changed = tmp_path / "changed"
    shutil.copytree(scene, changed)
    with rasterio.open(changed / "scene.tif", "r+") as dataset:
        bands = dataset.read()
        nodata = (bands == dataset.nodata).any(axis=0)
        assert nodata.any()
        noise = np.random.default_rng(0).integers(1, 60000, bands.shape, dtype=bands.dtype)
        bands[1:, nodata] = noise[1:, nodata]
        dataset.write(bands)
    original, altered = prepare(raster_config(scene)), prepare(raster_config(changed))
    assert original.preprocessor.band_mean == altered.preprocessor.band_mean
    assert original.preprocessor.band_std == altered.preprocessor.band_std
    for split in original.arrays:
        for a, b in zip(original.arrays[split], altered.arrays[split]):
            assert np.array_equal(a, b), split
    assert (original.arrays["train"][1] == IGNORE_LABEL).any()
    first = fit(raster_config(scene), runs_dir=tmp_path / "a", progress=False)
    second = fit(raster_config(changed), runs_dir=tmp_path / "b", progress=False)
    assert [r["loss"] for r in first.history] == [r["loss"] for r in second.history]
    assert first.metrics == second.metrics


@pytest.mark.slow
def test_ten_plus_ten_equals_twenty_with_random_chips_and_augmentation(scene, tmp_path):
    cfg = raster_config(scene, train_chips=16)
    cfg["train"].update(epochs=20, batch_size=8)
    straight = fit(cfg, runs_dir=tmp_path / "a", progress=False)
    half = fit({**cfg, "train": {**cfg["train"], "epochs": 10}}, runs_dir=tmp_path / "b",
               progress=False)
    resumed = resume(half.path, epochs=20, runs_dir=tmp_path / "b", progress=False)
    assert_same_run(straight, resumed)
    assert straight.metrics["test"]["pixel_accuracy"] > 0.3  # it learned something


# ----------------------------------------------------------------- bad inputs: exit 2
def _write_copy(source, target, **changes):
    with rasterio.open(source) as src:
        profile, values = src.profile, src.read()
    profile.update(changes)
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(values if "count" not in changes else values[:changes["count"]])


def _bad_case(name, scene, tmp_path):
    folder = tmp_path / name
    shutil.copytree(scene, folder)
    cfg = raster_config(folder)
    if name == "labels_on_another_grid":
        with rasterio.open(scene / "labels.tif") as src:
            shifted = src.transform @ rasterio.Affine.translation(7, 0)
        _write_copy(scene / "labels.tif", folder / "labels.tif", transform=shifted)
        return cfg, ["another grid", "align_labels: nearest"]
    if name == "chips_larger_than_the_scene":
        cfg["data"]["raster"]["chip_size"] = 256
        return cfg, ["chip_size 256 is larger than the scene", "at most 192"]
    if name == "scene_without_crs":
        (folder / "scene.tif").unlink()
        _write_copy(scene / "scene.tif", folder / "scene.tif", crs=None)
        return cfg, ["has no CRS", "scene.tif"]
    if name == "label_not_in_the_class_list":
        with rasterio.open(folder / "labels.tif", "r+") as dataset:
            labels = dataset.read(1)
            labels[5, 5] = 9
            dataset.write(labels, 1)
        return cfg, ["values [9]", "classes.csv"]
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["labels_on_another_grid", "chips_larger_than_the_scene",
                                  "scene_without_crs", "label_not_in_the_class_list"])
def test_bad_rasters_exit_2_with_the_file_and_the_fix_and_leave_no_run(name, scene, tmp_path):
    import yaml

    cfg, expected = _bad_case(name, scene, tmp_path)
    config_path = tmp_path / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(cfg))
    runs = tmp_path / f"runs-{name}"
    result = CliRunner().invoke(cli, ["train", str(config_path), "--runs-dir", str(runs)])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    for part in expected:
        assert part in message, message
    assert not runs.exists() or not [p for p in runs.iterdir() if p.is_dir()]


def test_named_regions_split_by_boxes_in_the_scenes_crs(scene):
    """split.method boxes: [x_min, y_min, x_max, y_max] in metres; test boxes win over
    validation boxes; training chips keep the buffer from both."""
    cfg = raster_config(scene)
    west, north = 500000.0, 5000000.0  # make_scene's upper-left corner, 10 m pixels
    cfg["data"]["split"] = {"method": "boxes", "buffer": 50,
                            "test_boxes": [[west, north - 640, west + 640, north]],
                            "val_boxes": [[west + 1280, north - 1920, west + 1920, north - 1280]]}
    data = prepare(cfg)
    assert data.summary["split"]["boxes"] == {"train": 0, "val": 1, "test": 1}
    for item in data.sample_ids["train"]:
        row, col = (int(part.split()[-1]) for part in item.split(","))
        # 5 pixels of buffer around the test box (rows, cols 0..63) and the val box (128..191)
        assert row >= 64 + 5 or col >= 64 + 5, item
        assert row + 32 <= 128 - 5 or col + 32 <= 128 - 5, item
    assert data.summary["rows"]["test"] == 4 and data.summary["rows"]["val"] == 4
    cfg["data"]["split"]["val_boxes"] = [[0, 0, 10, 10]]
    with pytest.raises(UserError, match=r"val_boxes\[0\].*outside the scene"):
        prepare(cfg)


def test_several_scenes_each_split_into_blocks_of_their_own(scene, tmp_path):
    other = tmp_path / "other"
    make_scene(other, size=128, seed=4)
    cfg = raster_config(scene)
    cfg["data"]["raster"]["scenes"] = [{"image": str(other / "scene.tif"),
                                        "labels": str(other / "labels.tif")}]
    data = prepare(cfg)
    assert data.summary["scenes"] == 2
    from_second = [item for item in data.sample_ids["train"] if item.startswith("scene 1:")]
    # Chips in proportion to area: 24 * 128² / (192² + 128²) = 7.4 -> up to 7 from the
    # second (its small training blocks may hold fewer), 17 from the first.
    assert 1 <= len(from_second) <= 7
    assert len(data.sample_ids["train"]) == 17 + len(from_second)
    alone = prepare(raster_config(scene))  # the first scene draws as it would alone...
    first = [i.removeprefix("scene 0: ") for i in data.sample_ids["train"] if "scene 0" in i]
    assert first == alone.sample_ids["train"][:len(first)]  # ...fewer of the same chips
    three_bands = tmp_path / "rgb.tif"
    with rasterio.open(other / "scene.tif") as src:
        profile, values = src.profile, src.read()[:3]
    profile.update(count=3)
    with rasterio.open(three_bands, "w", **profile) as dst:
        dst.write(values)
    cfg["data"]["raster"]["scenes"][0]["image"] = str(three_bands)
    with pytest.raises(UserError, match="the same bands in the same order"):
        prepare(cfg)


def _points_table(scene, path, count=120, seed=0):
    """Labelled points at random pixels of the scene, their class from labels.tif."""
    import pandas as pd

    with rasterio.open(scene / "labels.tif") as labels:
        values, transform = labels.read(1), labels.transform
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, SIZE, count), rng.integers(0, SIZE, count)
    keep = values[rows, cols] != 255
    names = ["water", "forest", "grassland", "cropland", "built-up"]
    x = transform.c + (cols[keep] + 0.5) * transform.a
    y = transform.f + (rows[keep] + 0.5) * transform.e
    pd.DataFrame({"x": x, "y": y, "label": [names[v] for v in values[rows, cols][keep]]}
                 ).to_csv(path, index=False)
    return path


def test_labelled_points_classify_chips_with_a_cnn(scene, tmp_path):
    cfg = raster_config(scene)
    cfg["data"]["raster"] = {"points": str(_points_table(scene, tmp_path / "points.csv")),
                             "chip_size": 16}
    cfg["data"]["split"]["buffer"] = 80  # half a chip: no held-out chip overlaps a training one
    cfg["data"]["augment"] = {"hflip": 0.5}
    cfg["task"] = {"type": "classification"}
    cfg["model"] = {"name": "cnn", "layers": [
        {"type": "conv2d", "filters": 8, "kernel": 3, "activation": "relu"},
        {"type": "maxpool2d", "size": 2}, {"type": "globalavgpool"}]}
    cfg["train"]["epochs"] = 3
    data = prepare(cfg)
    x, y = data.arrays["train"]
    assert x.shape[1:] == (6, 16, 16) and y.ndim == 1
    assert sum(data.summary["rows"].values()) + _dropped(data) <= 120
    assert not any("overlap a training chip" in w for w in data.summary.get("warnings", []))
    run = fit(cfg, runs_dir=tmp_path / "runs", progress=False)
    assert "accuracy" in run.metrics["test"] and run.status["status"] == "finished"
    cfg["model"] = {"name": "unet"}
    with pytest.raises(UserError, match="classifies whole chips"):
        load_config(cfg)


def _dropped(data) -> int:
    for warning in data.summary.get("warnings", []):
        if "training point(s) were left out" in warning:
            return int(warning.split()[0])
    return 0


def test_a_chip_classifier_maps_a_scene_as_a_table_or_a_coarse_map(scene, tmp_path):
    import pandas as pd

    cfg = raster_config(scene)
    cfg["data"]["raster"] = {"points": str(_points_table(scene, tmp_path / "points.csv")),
                             "chip_size": 16}
    cfg["data"]["augment"] = {}
    cfg["task"] = {"type": "classification"}
    cfg["model"] = {"name": "cnn", "layers": [
        {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "relu"},
        {"type": "globalavgpool"}]}
    run = fit(cfg, runs_dir=tmp_path / "runs", progress=False)
    runner = CliRunner()
    table = tmp_path / "chips.csv"
    result = runner.invoke(cli, ["segment", str(run.path), "--raster", str(scene / "scene.tif"),
                                 "--out", str(table), "--stride", "16"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(table)
    assert len(rows) == (SIZE // 16) ** 2 and set(rows["predicted"].dropna()) <= set(
        run.preprocessor.classes)
    probabilities = rows.filter(like="prob_").dropna()
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    coarse = tmp_path / "chips.tif"
    result = runner.invoke(cli, ["segment", str(run.path), "--raster", str(scene / "scene.tif"),
                                 "--out", str(coarse), "--stride", "16"])
    assert result.exit_code == 0, result.output
    with rasterio.open(coarse) as dataset, rasterio.open(scene / "scene.tif") as source:
        assert (dataset.width, dataset.height) == (SIZE // 16, SIZE // 16)
        assert dataset.crs == source.crs and dataset.transform.a == source.transform.a * 16
        assert dataset.transform.c == source.transform.c
