"""``trainwise segment``: whole-scene maps from a raster run by blended sliding windows."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window

import trainwise
from tests.helpers import small_config
from trainwise.datasets.scene import make_scene
from trainwise.errors import UserError
from trainwise.inputs.raster.mapping import probabilities_path, segment_scene
from trainwise.inputs.raster.scene import open_scene

SIZE, CHIP = 256, 64


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 256-pixel scene and a UNet run trained on it for 3 epochs (shared by the module)."""
    root = tmp_path_factory.mktemp("segment")
    scene = make_scene(root / "scene", size=SIZE, seed=3)
    config = {
        "name": "seg",
        "data": {"kind": "raster", "source": str(scene["scene"]),
                 "raster": {"labels": str(scene["labels"]), "chip_size": CHIP,
                            "train_chips": 64},
                 "split": {"method": "spatial_blocks", "block_size": 1280, "folds": 5,
                           "val": 0.2}},
        "task": {"type": "segmentation", "class_weights": "balanced"},
        "model": {"name": "unet", "depth": 3, "width": 16, "batch_norm": True},
        "train": {"epochs": 3, "batch_size": 16, "lr": 0.003, "seed": 0},
    }
    run = trainwise.fit(config, runs_dir=root / "runs", progress=False)
    return {"run": run, "scene": scene["scene"], "labels": scene["labels"], "root": root}


def read(path, band=None):
    with rasterio.open(path) as dataset:
        return dataset.read(band) if band else dataset.read()


def scene_valid(path):
    scene = open_scene(str(path), "scene")
    try:
        return scene.read(Window(0, 0, scene.width, scene.height))
    finally:
        scene.close()


def segment(trained, name, **options):
    out = trained["root"] / "maps" / name
    run = trained["run"]
    summary = segment_scene(run.model, run.preprocessor, trained["scene"], out, **options)
    return out, summary


@pytest.fixture(scope="module")
def half_stride(trained):
    """The default map (stride chip // 2) with its probabilities."""
    return segment(trained, "half.tif", probabilities=True)


@pytest.fixture(scope="module")
def whole_image(trained):
    """The model run once on the whole standardised scene: (K, H, W) probabilities."""
    values, valid = scene_valid(trained["scene"])
    prep, model = trained["run"].preprocessor, trained["run"].model
    x = torch.from_numpy(prep.standardise(values, valid))[None]
    assert SIZE % 2**3 == 0  # the whole scene is already a size the UNet takes
    with torch.inference_mode():
        return torch.softmax(model.eval()(x), dim=1)[0].numpy()


def test_the_map_keeps_the_grid_and_maps_every_valid_pixel_edges_included(trained, half_stride):
    out, summary = half_stride
    with rasterio.open(out) as mapped, rasterio.open(trained["scene"]) as scene:
        assert (mapped.crs, mapped.transform) == (scene.crs, scene.transform)
        assert (mapped.width, mapped.height, mapped.count) == (scene.width, scene.height, 1)
        assert mapped.dtypes[0] == "uint8" and mapped.nodata == 255
        assert mapped.descriptions == ("class",)
        assert mapped.block_shapes == [(256, 256)] and mapped.profile["compress"] == "deflate"
        classes = mapped.read(1)
    _, valid = scene_valid(trained["scene"])
    assert (~valid).sum() > 0, "the generated scene has a nodata wedge"
    assert np.array_equal(classes == 255, ~valid)  # nodata exactly where the scene is nodata
    assert set(np.unique(classes[valid])) <= set(trained["run"].preprocessor.class_values)
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        assert (classes[edge][valid[edge]] != 255).all()
    assert valid[0].any() and valid[-1].any() and valid[:, 0].any()  # the wedge is on the right
    rightmost = valid.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)  # last valid pixel per row
    assert (classes[np.arange(SIZE), rightmost] != 255).all()
    assert summary["valid_pixels"] == valid.sum() and summary["pixels"] == SIZE * SIZE
    assert summary["windows"] == 7 * 7 and summary["stride"] == CHIP // 2
    # The probabilities file: one float32 band per class, summing to 1, nodata where the map is.
    probs_path = probabilities_path(out)
    assert summary["probabilities"] == probs_path
    with rasterio.open(probs_path) as probs:
        assert probs.descriptions == tuple(f"p_{c}" for c in trained["run"].preprocessor.classes)
        assert probs.dtypes[0] == "float32" and probs.transform == mapped.transform
        p, nodata = probs.read(), probs.nodata
    assert np.allclose(p[:, valid].sum(axis=0), 1, atol=1e-5)
    assert (p[:, ~valid] == nodata).all()
    assert np.array_equal(p[:, valid].argmax(axis=0), classes[valid])  # class values = indices
    assert not list(out.parent.glob(".*.tmp"))


def test_blending_is_exact_for_a_per_pixel_model(trained):
    """With a receptive field of one pixel, windows and whole image must agree everywhere, to
    float rounding: the weights normalise, the offsets and the strip bookkeeping are right."""
    prep = trained["run"].preprocessor
    torch.manual_seed(1)
    pointwise = torch.nn.Conv2d(len(prep.band_names), len(prep.classes), 1)
    values, valid = scene_valid(trained["scene"])
    with torch.inference_mode():
        expected = torch.softmax(pointwise(torch.from_numpy(prep.standardise(values, valid))),
                                 dim=0).numpy()
    for options in ({"stride": 13}, {"stride": CHIP}, {"stride": 40, "tta": True}):
        out = trained["root"] / "maps" / f"pointwise_{options['stride']}.tif"
        segment_scene(pointwise, prep, trained["scene"], out, probabilities=True,
                      batch_size=5, **options)
        got = read(probabilities_path(out))
        assert np.abs(got[:, valid] - expected[:, valid]).max() < 1e-5, options


def test_sliding_windows_match_whole_image_inference_in_the_interior(trained, half_stride,
                                                                    whole_image):
    """The UNet sees ~100 pixels around each pixel, so window borders (zero padding) make the
    windows differ slightly from one pass over the whole scene; blended, the interior (more
    than half a chip from the scene's edge) stays within: mean |dp| < 0.01, 99th percentile
    < 0.08, and the same class on > 99 % of pixels."""
    out, _ = half_stride
    probs = read(probabilities_path(out))
    _, valid = scene_valid(trained["scene"])
    inner = np.zeros_like(valid)
    inner[CHIP // 2:-CHIP // 2, CHIP // 2:-CHIP // 2] = True
    inner &= valid
    difference = np.abs(probs - whole_image).max(axis=0)[inner]
    assert difference.mean() < 0.01
    assert np.quantile(difference, 0.99) < 0.08
    agree = (probs.argmax(axis=0) == whole_image.argmax(axis=0))[inner].mean()
    assert agree > 0.99


def test_no_seams_along_window_borders(trained, half_stride, whole_image):
    """Accuracy within 3 pixels of a window border is not worse than elsewhere by more than
    3 points, nor worse than whole-image inference's on those very pixels by more than 1."""
    out, _ = half_stride
    classes, labels = read(out, 1), read(trained["labels"], 1)
    stride = CHIP // 2
    rows = np.arange(SIZE)
    line = np.minimum(rows % stride, stride - rows % stride) <= 3
    line &= (rows > 3) & (rows < SIZE - 4)  # window borders, not the scene's edge
    near = line[:, None] | line[None, :]
    labelled = labels != 255
    correct = classes == labels
    near_accuracy, far_accuracy = correct[labelled & near].mean(), correct[labelled & ~near].mean()
    whole_near = (whole_image.argmax(axis=0) == labels)[labelled & near].mean()
    assert near_accuracy > far_accuracy - 0.03, (near_accuracy, far_accuracy)
    assert near_accuracy > whole_near - 0.01, (near_accuracy, whole_near)


def test_strides_give_the_same_classes(trained, half_stride):
    """Overlapping strides agree on > 99 % of pixels. Stride = chip (no overlap, so a pixel by
    a window border has only that window's border prediction) agrees on > 95 %."""
    classes = read(half_stride[0], 1)
    valid = classes != 255
    quarter = read(segment(trained, "quarter.tif", stride=CHIP // 4)[0], 1)
    full, summary = segment(trained, "full.tif", stride=CHIP)
    assert summary["windows"] == 4 * 4
    assert (quarter[valid] == classes[valid]).mean() > 0.99
    assert (read(full, 1)[valid] == classes[valid]).mean() > 0.95


def test_tta_runs_and_agrees_with_plain_inference(invoke, trained, half_stride):
    """The fixture's run trained without flips or turns, so TTA shows it views it never saw:
    it agrees on most pixels (measured ~88 %; ~98 % for a run trained with them), and the
    command says why it may not help."""
    out = trained["root"] / "maps" / "tta.tif"
    result = invoke("segment", trained["run"].path, "--raster", trained["scene"], "--out", out,
                    "--tta")
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.output and "with TTA x8" in result.output
    assert "trained without data.augment" in result.output
    plain, tta = read(half_stride[0], 1), read(out, 1)
    valid = plain != 255
    assert np.array_equal(tta == 255, ~valid)
    assert (tta[valid] == plain[valid]).mean() > 0.8


def test_a_scene_with_other_bands_is_refused_and_leaves_no_file(invoke, trained, tmp_path):
    with rasterio.open(trained["scene"]) as scene:
        profile = {**scene.profile, "count": 5}
        five = scene.read(list(range(1, 6)))
    source = tmp_path / "five_bands.tif"
    with rasterio.open(source, "w", **profile) as dataset:
        dataset.write(five)
    out = tmp_path / "maps" / "map.tif"
    result = invoke("segment", trained["run"].path, "--raster", source, "--out", out,
                    "--probabilities")
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "five_bands.tif" in message and "has 5 bands" in message
    assert "trained on 6" in message
    assert not out.exists() and not probabilities_path(out).exists()
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_a_run_of_another_kind_is_refused(invoke, regression_csv, tmp_path, trained):
    tabular = trainwise.fit(small_config(regression_csv, epochs=1), runs_dir=tmp_path / "runs",
                            progress=False)
    out = tmp_path / "map.tif"
    result = invoke("segment", tabular.path, "--raster", trained["scene"], "--out", out)
    assert result.exit_code == 2
    assert "data.kind: tabular" in result.output and "trainwise predict" in result.output
    assert not out.exists()


def test_small_scenes_and_bad_strides_are_refused(trained, tmp_path):
    with rasterio.open(trained["scene"]) as scene:
        profile = {**scene.profile, "width": 48, "height": 100}
        part = scene.read(window=Window(0, 0, 48, 100))
    small = tmp_path / "small.tif"
    with rasterio.open(small, "w", **profile) as dataset:
        dataset.write(part)
    run = trained["run"]
    with pytest.raises(UserError, match=r"48x100 pixels, smaller than the run's 64x64"):
        segment_scene(run.model, run.preprocessor, small, tmp_path / "small_map.tif")
    with pytest.raises(UserError, match="stride must be 1..64"):
        segment_scene(run.model, run.preprocessor, trained["scene"], tmp_path / "m.tif",
                      stride=65)
    with pytest.raises(UserError, match="is the scene itself"):
        segment_scene(run.model, run.preprocessor, trained["scene"], trained["scene"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.tif"]


def test_memory_is_bounded_by_strips(trained, monkeypatch):
    """Finished rows are written a row of tiles at a time; the accumulators hold one chip
    of rows, whatever the scene's height (checked by watching every write)."""
    import trainwise.inputs.raster.mapping as mapping

    monkeypatch.setattr(mapping, "TILE", 32)  # several writes on a 256-pixel scene
    heights = []
    original = mapping._MapWriter._flush

    def watch(self, rows):
        heights.append((self.written, rows, self.pending_rows))
        original(self, rows)
    monkeypatch.setattr(mapping._MapWriter, "_flush", watch)
    out, _ = segment(trained, "strips.tif", stride=40)
    assert [start for start, *_ in heights] == list(range(0, SIZE, 32))
    assert all(rows == 32 and pending < 32 + CHIP for _, rows, pending in heights)
    assert np.array_equal(read(out, 1) == 255, ~scene_valid(trained["scene"])[1])
