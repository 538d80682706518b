"""The synthetic multi-band scene: grid and nodata, determinism, tiling without seams, the
classes it promises (rare built-up, cropland told from grassland by texture only), the CLI."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from scipy.ndimage import binary_erosion

from trainwise.cli.make_scene import make_scene as make_scene_command
from trainwise.datasets.scene import make_scene
from trainwise.datasets.scene_fields import CLASSES, CROPLAND, GRASSLAND, make_layout
from trainwise.errors import UserError

SIZE = 256


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """One small scene, read back: (info, reflectance (B, H, W), labels (H, W))."""
    info = make_scene(tmp_path_factory.mktemp("scene"), size=SIZE, seed=0)
    with rasterio.open(info["scene"]) as image, rasterio.open(info["labels"]) as labels:
        return info, image.read(), labels.read(1)


def test_files_grid_and_nodata_values(scene):
    info, _, _ = scene
    with rasterio.open(info["scene"]) as image, rasterio.open(info["labels"]) as labels:
        assert (image.count, image.width, image.height) == (6, SIZE, SIZE)
        assert image.dtypes == ("uint16",) * 6 and image.nodata == 0
        assert image.descriptions == ("blue", "green", "red", "nir", "swir1", "swir2")
        assert image.crs.to_epsg() == 32633
        assert tuple(image.transform)[:6] == (10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0)
        assert image.block_shapes == [(256, 256)] * 6  # tiled (a 256-row strip is as wide)
        assert labels.count == 1 and labels.dtypes == ("uint8",) and labels.nodata == 255
        assert (labels.crs, labels.transform, labels.shape) == (image.crs, image.transform,
                                                                image.shape)
    with info["classes_csv"].open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(int(row["value"]), row["name"]) for row in rows] == list(enumerate(CLASSES))
    assert info["readme"].read_text().startswith("Synthetic multi-band scene")


def test_nodata_strip_is_nodata_everywhere_and_only_there(scene):
    info, reflectance, labels = scene
    nodata = labels == 255
    assert 0.05 < nodata.mean() < 0.3  # a wedge along the right edge
    assert nodata[:, -1].all() and not nodata[:, 0].any()
    assert (reflectance[:, nodata] == 0).all()
    assert (reflectance[:, ~nodata] > 0).all()  # 0 means nodata only
    assert set(np.unique(labels[~nodata])) <= set(range(len(CLASSES)))
    assert info["nodata_pixels"] == nodata.sum()
    assert info["valid_pixels"] == (~nodata).sum()
    assert 100 < np.median(reflectance[:, ~nodata]) < 6000  # reflectance × 10,000


def test_built_up_is_rare(scene):
    info, _, labels = scene
    share = (labels == CLASSES.index("built-up")).sum() / (labels != 255).sum()
    assert 0.01 < share < 0.04
    assert info["class_shares"]["built-up"] == pytest.approx(share)
    for name in ("water", "forest", "grassland", "cropland"):
        assert info["class_shares"][name] > 0.1


def _interior(labels: np.ndarray, value: int) -> np.ndarray:
    """Pixels of a class at least 2 px inside their field: no mixed pixels."""
    return binary_erosion(labels == value, iterations=2)


def test_cropland_differs_from_grassland_only_by_texture(scene):
    _, reflectance, labels = scene
    values = reflectance.astype(np.float64)
    # Away from the cloud and its shadow, which cover a different share of each class.
    layout = make_layout(0, SIZE, 6)
    rows, cols = np.indices(labels.shape)
    clear = np.hypot(rows - layout.cloud_centre[0], cols - layout.cloud_centre[1]) > \
        3 * layout.cloud_radius
    crop = _interior(labels, CROPLAND) & clear
    grass = _interior(labels, GRASSLAND) & clear
    assert crop.sum() > 1000 and grass.sum() > 1000
    np.testing.assert_allclose(values[:, crop].mean(1), values[:, grass].mean(1), rtol=0.04)
    nir = values[3]
    spread = {name: nir[mask].std() / nir[mask].mean() for name, mask in (("crop", crop),
                                                                          ("grass", grass))}
    assert 0.8 < spread["crop"] / spread["grass"] < 1.25  # one pixel says little of its class
    texture = {}
    for name, mask in (("crop", crop), ("grass", grass)):
        rows, cols = np.nonzero(mask[:-1, :-1])  # pixels with a right and a lower neighbour
        here = nir[rows, cols]
        # Mean absolute difference to the right and lower neighbours, relative to the pixel.
        step = np.abs(nir[rows, cols + 1] - here) + np.abs(nir[rows + 1, cols] - here)
        texture[name] = np.median(step / (2 * here))
    assert texture["crop"] > 3 * texture["grass"]


def test_same_seed_same_bytes(tmp_path):
    first = make_scene(tmp_path / "a", size=64, seed=3)
    second = make_scene(tmp_path / "b", size=64, seed=3)
    other = make_scene(tmp_path / "c", size=64, seed=4)
    for key in ("scene", "labels"):
        assert first[key].read_bytes() == second[key].read_bytes() != other[key].read_bytes()


def test_tile_size_changes_nothing(tmp_path):
    """Tiles of 48 px (with partial ones at the edges) against one piece: no seams."""
    whole = make_scene(tmp_path / "whole", size=160, seed=1)
    tiled = make_scene(tmp_path / "tiled", size=160, seed=1, _tile=48)
    for key in ("scene", "labels"):
        with rasterio.open(whole[key]) as a, rasterio.open(tiled[key]) as b:
            assert a.profile["tiled"] and a.block_shapes[0] == (256, 256)  # wider than 160
            np.testing.assert_array_equal(a.read(), b.read())


def test_other_band_counts(tmp_path):
    info = make_scene(tmp_path, size=48, bands=4)
    with rasterio.open(info["scene"]) as image:
        assert image.count == 4 and image.descriptions == ("band1", "band2", "band3", "band4")


def test_rerun_replaces_and_foreign_folders_are_refused(tmp_path):
    make_scene(tmp_path, size=48, seed=0)
    again = make_scene(tmp_path, size=64, seed=1)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "README.txt", "classes.csv", "labels.tif", "scene.tif"]  # no temporaries left
    with rasterio.open(again["scene"]) as image:
        assert image.width == 64
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        make_scene(foreign, size=48)
    interrupted = tmp_path / "interrupted"  # killed before its README: only our files
    interrupted.mkdir()
    (interrupted / "scene.tif").write_bytes(b"partial")
    (interrupted / ".labels.tif.123.tmp").write_bytes(b"partial")
    make_scene(interrupted, size=32)
    assert not (interrupted / ".labels.tif.123.tmp").exists()
    with pytest.raises(UserError, match="size must be at least 32"):
        make_scene(tmp_path / "new", size=16)
    with pytest.raises(UserError, match="bands must be 3..16"):
        make_scene(tmp_path / "new", bands=2)


def test_cli_writes_and_reports(tmp_path):
    out = tmp_path / "scene"
    result = CliRunner().invoke(make_scene_command, [str(out), "--size", "64", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "64 x 64 scene of 6 bands" in result.output and "built-up" in result.output
    assert {path.name for path in out.iterdir()} == {"scene.tif", "labels.tif", "classes.csv",
                                                     "README.txt"}
    again = CliRunner().invoke(make_scene_command, [str(out), "--size", "48", "--bands", "3"])
    assert again.exit_code == 0, again.output


def test_cli_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "data.csv").write_text("x\n1\n")
    result = CliRunner().invoke(make_scene_command, [str(tmp_path), "--size", "32"])
    assert result.exit_code == 2
    assert "not a previous make-scene output" in result.output
    assert not (tmp_path / "scene.tif").exists()
