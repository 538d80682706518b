"""The shipped examples reach what their headers promise, and reproduce exactly. Minutes of
training: marked ``examples`` (excluded by default; CI runs ``pytest -m examples``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import comparable_history
from trainwise.session import fit

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = [pytest.mark.examples, pytest.mark.timeout(1800)]


def test_the_digits_cnn_reaches_97_percent_test_accuracy_twice_the_same(tmp_path):
    first = fit(EXAMPLES / "digits.yaml", runs_dir=tmp_path / "a", progress=False)
    second = fit(EXAMPLES / "digits.yaml", runs_dir=tmp_path / "b", progress=False)
    assert first.metrics["test"]["accuracy"] >= 0.97, first.metrics["test"]["accuracy"]
    assert second.metrics == first.metrics
    assert comparable_history(second) == comparable_history(first)


def test_the_random_frame_split_overestimates_and_the_session_split_does_not(tmp_path):
    """examples/frames: trained on generated gesture sessions, scored on 40 sessions recorded
    afterwards (another seed). The random split's own test score flatters; the session
    split's is close to what new sessions get."""
    from trainwise.datasets.frames import make_frame_sessions

    make_frame_sessions(tmp_path / "gestures", seed=0)
    make_frame_sessions(tmp_path / "new", seed=1)
    scores = {}
    for name in ("session_split", "random_split"):
        run = fit(EXAMPLES / "frames" / f"{name}.yaml",
                  {"data.source": str(tmp_path / "gestures")}, runs_dir=tmp_path / "runs",
                  progress=False)
        new = run.inputs.read(str(tmp_path / "new"), "new sessions", run.config, labelled=True)
        scores[name] = (run.metrics["test"]["accuracy"], run.evaluate(new)["accuracy"])
    random_reported, random_new = scores["random_split"]
    session_reported, session_new = scores["session_split"]
    assert random_reported - random_new > 0.1, scores
    assert abs(session_reported - session_new) < 0.1, scores


def test_the_unet_sees_what_a_per_pixel_model_cannot(tmp_path):
    """examples/scene: on the held-out blocks, the UNet's mean IoU and its IoU of the rare,
    texture-only built-up class are far above the per-pixel MLP's on the same bands."""
    from trainwise.datasets.scene import make_scene

    make_scene(tmp_path / "data", size=512, seed=0)
    scores = {}
    for name in ("unet", "pixel_mlp"):
        run = fit(EXAMPLES / "scene" / f"{name}.yaml",
                  {"data.source": str(tmp_path / "data" / "scene.tif"),
                   "data.raster.labels": str(tmp_path / "data" / "labels.tif")},
                  runs_dir=tmp_path / "runs", progress=False)
        test = run.metrics["test"]
        scores[name] = (test["mean_iou"], test["per_class"]["built-up"]["iou"])
    assert scores["unet"][0] > scores["pixel_mlp"][0] + 0.2, scores
    assert scores["unet"][1] > scores["pixel_mlp"][1] + 0.4, scores
