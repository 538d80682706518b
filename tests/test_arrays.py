"""Frames and images as inputs: session files and image folders read, split by session,
standardised per channel, cached, trained on with a layer-list CNN, resumed exactly with
augmentation on, predicted from raw files; user mistakes exit 2 before any run exists."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from tests.helpers import assert_same_run
from trainwise.config.load import load_config
from trainwise.datasets.frames import make_frame_sessions
from trainwise.inputs.registry import input_kind_for
from trainwise.resume_run import resume
from trainwise.session import fit

FRAME_LAYERS = [{"type": "conv1d", "filters": 4, "kernel": 3, "activation": "relu"},
                {"type": "maxpool1d", "size": 2}, {"type": "globalavgpool"}]
IMAGE_LAYERS = [{"type": "conv2d", "filters": 4, "kernel": 3, "activation": "relu"},
                {"type": "globalavgpool"}]


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """4 gestures × 4 sessions × 12 frames of 16 range bins."""
    folder = tmp_path_factory.mktemp("frames") / "sessions"
    make_frame_sessions(folder, sessions_per_class=4, frames_per_session=12, range_bins=16,
                        seed=3)
    return folder


def frames_config(source, tmp_path, **changes) -> dict:
    cfg = {"name": "frames", "data": {"kind": "frames", "source": str(source),
                                      "cache_dir": str(tmp_path / "cache")},
           "task": {"type": "classification"},
           "model": {"name": "cnn", "layers": FRAME_LAYERS},
           "train": {"epochs": 3, "batch_size": 16, "lr": 0.01}}
    for key, value in changes.items():
        section, _, name = key.partition("__")
        cfg.setdefault(section, {})[name] = value
    return cfg


def write_images(folder, classes=("cat", "dog"), per_class=6, size=8, mode="L") -> None:
    rng = np.random.default_rng(0)
    for index, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (size, size) if mode == "L" else (size, size, 3)
            pixels = rng.integers(0, 100, shape) + 120 * index
            Image.fromarray(pixels.astype(np.uint8), mode=mode).save(folder / name / f"{i}.png")


# ------------------------------------------------------------------- reading and splitting
def test_frames_split_by_session_by_default_and_never_share_one(sessions, tmp_path, runs_dir):
    run = fit(frames_config(sessions, tmp_path), runs_dir=runs_dir, progress=False)
    summary = run.run_dir.read_json("data_summary.json")
    assert summary["split"]["method"] == "group" and summary["sample_shape"] == [1, 16]
    assert sum(summary["rows"].values()) == 16 * 12
    predictions = pd.read_csv(run.path / "predictions.csv")
    session_of = predictions["item"].str.split("#").str[0]
    assert set(session_of[predictions.split == "val"]).isdisjoint(
        session_of[predictions.split == "test"])
    assert "warnings" not in summary
    assert run.config.data.split.group_column == "session"


def test_a_random_frame_split_warns_that_it_flatters(sessions, tmp_path, runs_dir):
    cfg = frames_config(sessions, tmp_path, data__split={"method": "random"})
    run = fit(cfg, runs_dir=runs_dir, progress=False)
    warnings = run.run_dir.read_json("data_summary.json")["warnings"]
    assert any("overestimate" in text and "group" in text for text in warnings)


def test_the_cache_decodes_once_and_notices_a_changed_file(sessions, tmp_path, monkeypatch):
    import trainwise.inputs.arrays.cache as cache

    cfg = load_config(frames_config(sessions, tmp_path))
    first = input_kind_for("frames").prepare(cfg)
    calls = []
    monkeypatch.setattr(cache, "read_session", lambda path: calls.append(path) or (_ for _ in ()).throw(AssertionError))
    again = input_kind_for("frames").prepare(cfg)
    assert not calls and again.fingerprint == first.fingerprint
    np.testing.assert_array_equal(again.arrays["train"][0], first.arrays["train"][0])
    monkeypatch.undo()
    changed = tmp_path / "copy"
    import shutil

    shutil.copytree(sessions, changed)
    victim = sorted(changed.rglob("*.npy"))[0]
    np.save(victim, np.load(victim) * 2)
    other = load_config(frames_config(changed, tmp_path))
    assert input_kind_for("frames").prepare(other).fingerprint != first.fingerprint


def test_images_by_class_folder_with_per_channel_statistics(tmp_path, runs_dir):
    write_images(tmp_path / "pics", mode="RGB")
    cfg = {"name": "pics", "data": {"kind": "images", "source": str(tmp_path / "pics"),
                                    "cache_dir": str(tmp_path / "cache"),
                                    "split": {"val": 0.25, "test": 0.25}},
           "task": {"type": "classification"}, "model": {"name": "cnn", "layers": IMAGE_LAYERS},
           "train": {"epochs": 2, "batch_size": 4}}
    run = fit(cfg, runs_dir=runs_dir, progress=False)
    prep = run.run_dir.read_json("preprocessing.json")
    assert prep["sample_shape"] == [3, 8, 8] and prep["classes"] == ["cat", "dog"]
    assert len(prep["channel_mean"]) == 3 and all(m > 50 for m in prep["channel_mean"])


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_a_multi_band_tiff_chip_keeps_every_band(tmp_path):
    import rasterio

    folder = tmp_path / "chips"
    for name, offset in (("water", 0.0), ("forest", 5.0)):
        (folder / name).mkdir(parents=True)
        for i in range(3):
            bands = np.random.default_rng(i).normal(offset, 1, (13, 6, 6)).astype("float32")
            with rasterio.open(folder / name / f"{i}.tif", "w", driver="GTiff", width=6,
                               height=6, count=13, dtype="float32") as dst:
                dst.write(bands)
    cfg = load_config({"data": {"kind": "images", "source": str(folder),
                                "cache_dir": str(tmp_path / "cache"),
                                "split": {"method": "none"}},
                       "task": {"type": "classification"},
                       "model": {"name": "cnn", "layers": IMAGE_LAYERS}})
    data = input_kind_for("images").prepare(cfg)
    assert data.arrays["train"][0].shape == (6, 13, 6, 6)
    assert data.preprocessor.classes == ["forest", "water"]


# ------------------------------------------------------------------- resume and predict
def test_resume_with_augmentation_is_bit_identical(sessions, tmp_path):
    """10 epochs and 10 resumed equal 20 straight, bit for bit, with augmentation on."""
    augment = {"amplitude": [0.8, 1.2], "amplitude_p": 0.5, "time_shift": 0.1,
               "noise_std": 0.05}
    cfg = frames_config(sessions, tmp_path, data__augment=augment,
                        train__epochs=20, train__early_stopping={"enabled": False})
    straight = fit(cfg, runs_dir=tmp_path / "a", progress=False)
    first = fit({**cfg, "train": {**cfg["train"], "epochs": 10}}, runs_dir=tmp_path / "b",
                progress=False)
    resumed = resume(first.path, epochs=20, runs_dir=tmp_path / "b", progress=False)
    assert_same_run(straight, resumed)


def test_predict_on_raw_files_reproduces_evaluate(sessions, tmp_path, runs_dir, invoke):
    config = tmp_path / "frames.yaml"
    config.write_text(yaml.safe_dump(frames_config(sessions, tmp_path)))
    assert invoke("train", config, "--runs-dir", runs_dir, "--quiet").exit_code == 0
    result = invoke("evaluate", "last", "--data", sessions, "--runs-dir", runs_dir, "--json")
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.output)
    out = tmp_path / "preds.csv"
    result = invoke("predict", "last", "--input", sessions, "--output", out, "--runs-dir",
                    runs_dir)
    assert result.exit_code == 0, result.output
    predictions = pd.read_csv(out)
    assert len(predictions) == 16 * 12 and {"item", "label_pred"} <= set(predictions.columns)
    actual = predictions["item"].str.split("/").str[0]  # the class folder
    assert (predictions["label_pred"] == actual).mean() == pytest.approx(evaluated["accuracy"])
    one = sorted(sessions.rglob("*.npy"))[0]
    result = invoke("predict", "last", "--input", one, "--output", out, "--runs-dir", runs_dir)
    assert result.exit_code == 0 and len(pd.read_csv(out)) == 12


# ------------------------------------------------------------------- mistakes: exit 2, no run
def assert_refused(invoke, tmp_path, cfg, *expected) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(cfg))
    runs = tmp_path / "bad_runs"
    result = invoke("train", config, "--runs-dir", runs, "--quiet")
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.output, result.output
    assert not runs.exists() or not [p for p in runs.iterdir() if p.is_dir()]


def test_a_layer_list_that_does_not_fit_names_the_layer(sessions, tmp_path, invoke):
    layers = [*FRAME_LAYERS, {"type": "conv1d", "filters": 4, "kernel": 3}]
    assert_refused(invoke, tmp_path, frames_config(sessions, tmp_path, model__layers=layers),
                   "model.layers[3]")


def test_an_image_with_other_channels_names_the_file(tmp_path, invoke):
    write_images(tmp_path / "pics")
    odd = tmp_path / "pics" / "cat" / "odd.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8), mode="RGB").save(odd)
    cfg = {"data": {"kind": "images", "source": str(tmp_path / "pics"),
                    "cache_dir": str(tmp_path / "cache")},
           "task": {"type": "classification"}, "model": {"name": "cnn", "layers": IMAGE_LAYERS}}
    assert_refused(invoke, tmp_path, cfg, "odd.png", "(3, 8, 8)")


def test_an_empty_class_folder_and_an_unreadable_file_are_named(tmp_path, invoke):
    write_images(tmp_path / "pics")
    (tmp_path / "pics" / "bird").mkdir()
    cfg = {"data": {"kind": "images", "source": str(tmp_path / "pics"),
                    "cache_dir": str(tmp_path / "cache")},
           "task": {"type": "classification"}, "model": {"name": "cnn", "layers": IMAGE_LAYERS}}
    assert_refused(invoke, tmp_path, cfg, "bird", "add its files, or remove the folder")
    (tmp_path / "pics" / "bird").rmdir()
    (tmp_path / "pics" / "dog" / "broken.png").write_bytes(b"not a png")
    assert_refused(invoke, tmp_path, cfg, "broken.png", "could not read")


def test_separate_validation_files_and_no_validation(sessions, tmp_path):
    import shutil

    val = tmp_path / "val_sessions"
    shutil.copytree(sessions / "push", val / "push")
    shutil.copytree(sessions / "idle", val / "idle")
    cfg = load_config(frames_config(sessions, tmp_path,
                                    data__split={"method": "files", "val_file": str(val)}))
    data = input_kind_for("frames").prepare(cfg)
    assert len(data.arrays["train"][0]) == 16 * 12 and len(data.arrays["val"][0]) == 8 * 12
    assert data.sample_ids["val"][0].startswith("idle/")
    none = load_config(frames_config(sessions, tmp_path, data__split={"method": "none"}))
    assert set(input_kind_for("frames").prepare(none).arrays) == {"train"}
