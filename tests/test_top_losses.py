"""Top losses: every classifier row's loss and confidence in predictions.csv, the worst
held-out mistakes of a frames run kept raw in top_losses.npz and drawn, and the report's
section that shows them with the per-class accuracy."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import torch

import trainwise
from tests.helpers import small_config
from trainwise.config.load import load_config
from trainwise.datasets.frames import make_frame_sessions
from trainwise.inputs.registry import input_kind_for
from trainwise.reports.html import render_report
from trainwise.reports.report_context import class_accuracy
from trainwise.reports.top_losses import TOP_K, plot_top_losses
from trainwise.session import fit
from trainwise.top_losses import top_loss_indices

FRAME_LAYERS = [{"type": "conv1d", "filters": 4, "kernel": 3, "activation": "relu"},
                {"type": "globalavgpool"}]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def frames_config(source, folder) -> dict:
    """Two epochs of a tiny CNN: quick, and still wrong on plenty of frames."""
    return {"name": "frames",
            "data": {"kind": "frames", "source": str(source), "cache_dir": str(folder / "cache")},
            "task": {"type": "classification"},
            "model": {"name": "cnn", "layers": FRAME_LAYERS},
            "train": {"epochs": 2, "batch_size": 32, "lr": 0.01}}


@pytest.fixture(scope="module")
def frames_run(tmp_path_factory):
    """A finished frames run (4 gestures × 4 sessions × 12 frames of 16 range bins)."""
    folder = tmp_path_factory.mktemp("top_losses")
    make_frame_sessions(folder / "sessions", sessions_per_class=4, frames_per_session=12,
                        range_bins=16, seed=3)
    cfg = frames_config(folder / "sessions", folder)
    run = fit(cfg, runs_dir=folder / "runs", progress=False, plots=True)
    return run, cfg, folder / "sessions"


def test_loss_is_the_true_class_cross_entropy_and_confidence_the_predicted_share(frames_run):
    run, cfg, _ = frames_run
    predictions = pd.read_csv(run.path / "predictions.csv")
    assert list(predictions.columns) == ["split", "item", "actual", "predicted", "confidence",
                                         "loss"]
    # The same split and standardisation again, and the finished model's probabilities.
    data = input_kind_for("frames").prepare(load_config(cfg))
    classes = run.preprocessor.classes
    model = run.model.eval()
    for split in ("val", "test"):
        features, targets = data.arrays[split]
        with torch.inference_mode():
            probabilities = torch.softmax(model(torch.from_numpy(features)).double(), -1).numpy()
        rows = predictions[predictions.split == split].set_index("item").loc[data.sample_ids[split]]
        actual = [classes.index(name) for name in rows["actual"]]
        predicted = [classes.index(name) for name in rows["predicted"]]
        positions = np.arange(len(rows))
        np.testing.assert_allclose(rows["loss"], -np.log(probabilities[positions, actual]),
                                   rtol=1e-5)
        np.testing.assert_allclose(rows["confidence"], probabilities[positions, predicted],
                                   rtol=1e-5)
    right = predictions.actual == predictions.predicted
    np.testing.assert_allclose(np.exp(-predictions.loss[right]), predictions.confidence[right])
    assert (np.exp(-predictions.loss[~right]) <= predictions.confidence[~right] + 1e-9).all()


def test_top_losses_npz_holds_the_worst_mistakes_raw_and_sorted(frames_run):
    run, _, sessions = frames_run
    predictions = pd.read_csv(run.path / "predictions.csv")
    test = predictions[predictions.split == "test"]
    wrong = test[test.actual != test.predicted].sort_values("loss", ascending=False)
    assert len(wrong) > 0, "the tiny model should still make mistakes"
    with np.load(run.path / "top_losses.npz", allow_pickle=False) as saved:
        examples = {name: saved[name] for name in saved.files}
    count = min(TOP_K, len(wrong))
    assert str(examples["split"]) == "test" and str(examples["kind"]) == "frames"
    assert examples["samples"].shape == (count, 1, 16)
    assert examples["samples"].dtype == np.float32
    assert (np.diff(examples["loss"]) <= 0).all()  # worst first
    assert (examples["actual"] != examples["predicted"]).all()  # mistakes only
    np.testing.assert_allclose(examples["loss"], wrong.loss[:count], rtol=1e-6)
    assert set(examples["ids"]) <= set(wrong["item"])
    # Un-standardised: the very frame of the session file the id names.
    for item, sample in zip(examples["ids"][:3], examples["samples"]):
        file, _, frame = item.rpartition("#")
        np.testing.assert_allclose(sample[0], np.load(sessions / file)[int(frame)], atol=1e-4)
    assert not list(run.path.glob(".*.tmp"))  # written atomically


def test_the_report_shows_the_top_losses_with_their_examples(frames_run):
    run, _, _ = frames_run
    assert (run.path / "plots" / "top_losses.png").read_bytes()[:8] == PNG_SIGNATURE
    html = render_report(run.path)
    section = html[html.index('<section id="top-losses">'):]
    section = section[:section.index("</section>")]
    assert "<h2>Top losses</h2>" in section and "<img " in section
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', section)
    predictions = pd.read_csv(run.path / "predictions.csv")
    test = predictions[predictions.split == "test"]
    errors = int((test.actual != test.predicted).sum())
    assert section.count("<tr>") == 1 + min(TOP_K, errors)  # the head, then one per mistake
    assert 'href="#top-losses"' in html
    assert '<td class="num accuracy">' in html  # per-class accuracy beside the matrix
    assert "recall (class accuracy)" in html


def test_a_table_classifier_gets_the_columns_and_the_table_but_no_examples(classification_csv,
                                                                          runs_dir):
    run = trainwise.fit(small_config(classification_csv, target="label", task="classification",
                                     epochs=2), runs_dir=runs_dir, progress=False)
    predictions = pd.read_csv(run.path / "predictions.csv")
    assert {"loss", "confidence"} <= set(predictions.columns)
    assert (predictions.confidence >= 1 / 3 - 1e-9).all()  # the argmax of three classes
    assert not (run.path / "top_losses.npz").exists()
    html = render_report(run.path)
    if (predictions.actual != predictions.predicted).any():
        section = html[html.index('<section id="top-losses">'):]
        assert "row " in section[:section.index("</section>")]  # rows named by position


def test_a_regression_run_has_no_loss_columns_or_section(regression_csv, runs_dir):
    run = trainwise.fit(small_config(regression_csv, epochs=2), runs_dir=runs_dir,
                        progress=False)
    assert "loss" not in pd.read_csv(run.path / "predictions.csv").columns
    assert 'id="top-losses"' not in render_report(run.path)


def test_top_loss_indices_keep_mistakes_only_worst_first():
    actual = np.array(["a", "b", "a", "b", "a"])
    predicted = np.array(["b", "b", "b", "a", "a"])
    loss = np.array([0.9, 5.0, 2.0, 1.5, 3.0])
    assert top_loss_indices(actual, predicted, loss).tolist() == [2, 3, 0]
    assert top_loss_indices(actual, predicted, loss, k=1).tolist() == [2]


def test_class_accuracy_is_the_recall_and_names_the_likeliest_mistake():
    matrix = [[8, 2, 0], [0, 0, 0], [1, 3, 6]]
    assert class_accuracy(matrix, ["a", "b", "c"], 0) == {
        "accuracy": 0.8, "confused_with": "b", "confused_count": 2}
    assert class_accuracy(matrix, ["a", "b", "c"], 1)["accuracy"] is None
    assert math.isclose(class_accuracy(matrix, ["a", "b", "c"], 2)["accuracy"], 0.6)


@pytest.mark.parametrize("kind, shape", [("frames", (1, 16)), ("frames", (1, 8, 6)),
                                         ("images", (3, 8, 8)), ("images", (1, 8, 8))])
def test_every_sample_shape_is_drawn(tmp_path, kind, shape):
    rng = np.random.default_rng(0)
    examples = {"samples": rng.uniform(0, 255, (5, *shape)).astype(np.float32),
                "actual": np.array(["cat"] * 5), "predicted": np.array(["dog"] * 5),
                "loss": np.linspace(3, 1, 5).astype(np.float32),
                "split": np.asarray("val"), "kind": np.asarray(kind)}
    path = plot_top_losses(examples, tmp_path / "top_losses.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
