"""trainwise export: one graph from raw inputs to outputs in the target's units, in ONNX and
pt2, matching Run.predict within 1e-5 for a regressor (categories and missing values), a
classifier, a probabilistic ensemble and a frames CNN, at batch sizes 1 and N; the metadata
it carries; and what it refuses (exit 2) or cannot reproduce (exit 1, nothing written)."""

from __future__ import annotations

import json
import shutil
import warnings
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime
import pandas as pd
import pytest
import torch

from tests.conftest import classification_csv, regression_csv
from trainwise.datasets.frames import make_frame_sessions
from trainwise.errors import UnseenCategoryWarning, UserError
from trainwise.export import encode_rows, export_run, load_pt2
from trainwise.export.graph import refuse_unsupported
from trainwise.run import Run
from trainwise.session import fit

TOLERANCE = 1e-5
POOLED_FRAME_LAYERS = [{"type": "conv1d", "filters": 4, "kernel": 3, "activation": "relu"},
                       {"type": "avgpool1d", "size": 2}, {"type": "globalavgpool"}]
DENSE_FRAME_LAYERS = [{"type": "conv1d", "filters": 2, "kernel": 3, "activation": "relu"},
                      {"type": "flatten"}, {"type": "dense", "units": 4, "activation": "relu"}]


def _table(path, **data) -> dict:
    return {"name": path.stem, "data": {"source": str(path), **data},
            "model": {"hidden": [8]}, "train": {"epochs": 3, "batch_size": 32}}


def _frames(folder, cache, layers) -> dict:
    return {"name": "frames", "data": {"kind": "frames", "source": str(folder),
                                       "cache_dir": str(cache)},
            "task": {"type": "classification"}, "model": {"name": "cnn", "layers": layers},
            "train": {"epochs": 2, "batch_size": 16, "lr": 0.01}}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("export")


@pytest.fixture(scope="module")
def runs(workdir) -> dict[str, Run]:
    """Each kind of run trained once, a few epochs, on tiny data."""
    torch.manual_seed(0)
    # conftest's tables, written once for the module (its fixtures are per test).
    regression = regression_csv.__wrapped__(workdir)
    classes = classification_csv.__wrapped__(workdir)
    sessions = workdir / "sessions"
    make_frame_sessions(sessions, sessions_per_class=3, frames_per_session=6, range_bins=16,
                        seed=3)
    configs = {
        "regression": _table(regression, target="y", categorical=["colour"]),
        "classification": {**_table(classes, target="label"),
                           "task": {"type": "classification"}},
        "probabilistic": {**_table(regression, target="y", categorical=["colour"]),
                          "task": {"type": "probabilistic_regression"},
                          "model": {"hidden": [8], "ensemble": 2}},
        "frames": _frames(sessions, workdir / "cache", POOLED_FRAME_LAYERS),
        "frames_dense": _frames(sessions, workdir / "cache", DENSE_FRAME_LAYERS),
    }
    return {name: fit(cfg, runs_dir=workdir / "runs", progress=False)
            for name, cfg in configs.items()}


@pytest.fixture(scope="module")
def onnx_exports(runs, workdir):
    """run name -> ExportResult of its ONNX export (checked on its test split on the way)."""
    return {name: export_run(runs[name], "onnx", workdir / f"{name}.onnx")
            for name in ("regression", "classification", "probabilistic", "frames")}


def _session(path) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _assert_close(got, want) -> None:
    assert np.max(np.abs(np.asarray(got, dtype=np.float64) - want)) <= TOLERANCE


def _raw_rows(run: Run) -> pd.DataFrame:
    """The whole training table (missing x2 included), plus a row missing its colour and
    one with a colour never seen in training."""
    frame = pd.read_csv(run.config.data.source)
    extra = frame.iloc[:2].copy()
    extra["colour"] = [np.nan, "purple"]
    return pd.concat([frame, extra], ignore_index=True)


def _predict(run: Run, raw) -> pd.DataFrame:
    with warnings.catch_warnings():
        # 'purple' warns (UnseenCategoryWarning): expected, it is what the row is for.
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        return run.predict(raw, unseen_categories="warn")


# ------------------------------------------------------------------ parity on raw inputs
def test_regressor_reproduces_predict_on_raw_rows_with_gaps_and_categories(runs, onnx_exports):
    run, result = runs["regression"], onnx_exports["regression"]
    assert result.parity.max_abs["prediction"] <= TOLERANCE
    raw = _raw_rows(run)
    assert raw["x2"].isna().sum() == 3 and raw["colour"].isna().sum() == 1
    rows = encode_rows(raw, run.preprocessor)
    assert rows[-1, -1] == -1 and np.isnan(rows[-2, -1])
    want = _predict(run, raw)["y_pred"].to_numpy()
    session = _session(result.path)
    (all_rows,) = session.run(["prediction"], {"rows": rows})
    (one_row,) = session.run(["prediction"], {"rows": rows[3:4]})  # row 3 lacks x2
    _assert_close(all_rows, want)
    _assert_close(one_row, want[3:4])


def test_classifier_gives_probabilities_and_logits_per_class(runs, onnx_exports):
    run, result = runs["classification"], onnx_exports["classification"]
    raw = pd.read_csv(run.config.data.source)
    want = _predict(run, raw)[[f"prob_{name}" for name in run.preprocessor.classes]]
    probabilities, logits = _session(result.path).run(
        ["probabilities", "logits"], {"rows": encode_rows(raw, run.preprocessor)})
    _assert_close(probabilities, want.to_numpy())
    _assert_close(torch.softmax(torch.from_numpy(logits), 1).numpy(), want.to_numpy())
    assert result.metadata["classes"] == ["a", "b", "c"]


def test_probabilistic_ensemble_gives_mean_and_variance_in_target_units(runs, onnx_exports):
    run, result = runs["probabilistic"], onnx_exports["probabilistic"]
    raw = _raw_rows(run).iloc[:-1]  # Run.predict_distribution refuses no unseen category
    mean, variance = run.predict_distribution(raw)
    session = _session(result.path)
    rows = encode_rows(raw, run.preprocessor)
    got_mean, got_variance = session.run(["mean", "variance"], {"rows": rows})
    _assert_close(got_mean, mean)
    _assert_close(got_variance, variance)
    one_mean, one_variance = session.run(["mean", "variance"], {"rows": rows[:1]})
    _assert_close(one_mean, mean[:1])
    _assert_close(one_variance, variance[:1])
    assert result.parity.max_abs.keys() == {"mean", "variance"}


def test_frames_cnn_takes_raw_frames_of_any_batch_and_length(runs, onnx_exports):
    run, result = runs["frames"], onnx_exports["frames"]
    samples = run.inputs.read(run.config.data.source, "data.source", run.config)
    want = _predict(run, samples)[[f"prob_{name}" for name in run.preprocessor.classes]]
    session = _session(result.path)
    x = np.ascontiguousarray(samples.samples)
    _assert_close(session.run(["probabilities"], {"samples": x})[0], want.to_numpy())
    _assert_close(session.run(["probabilities"], {"samples": x[:1]})[0], want.to_numpy()[:1])
    assert result.metadata["input_shape"] == ["batch", 1, "length"]
    assert result.metadata["spatial_size"] == "dynamic"
    longer = np.random.default_rng(0).normal(size=(3, 1, 40)).astype(np.float32)
    with torch.inference_mode():
        prep = run.preprocessor
        scaled = (longer - prep.channel_mean[0]) / prep.channel_std[0]
        logits = run.model(torch.from_numpy(scaled.astype(np.float32)))
    _assert_close(session.run(["probabilities"], {"samples": longer})[0],
                  torch.softmax(logits, 1).numpy())


def test_a_flatten_dense_cnn_exports_with_a_fixed_length_only(runs, workdir):
    result = export_run(runs["frames_dense"], "onnx", workdir / "dense.onnx")
    assert result.metadata["input_shape"] == ["batch", 1, 16]
    assert "flattened" in result.metadata["spatial_size"]["because"]
    assert result.parity.max_abs["probabilities"] <= TOLERANCE
    with pytest.raises(UserError, match="--size dynamic is impossible"):
        export_run(runs["frames_dense"], "onnx", workdir / "never.onnx", size="dynamic")
    assert not (workdir / "never.onnx").exists()


# ------------------------------------------------------------------ pt2 and metadata
def test_pt2_round_trip_gives_the_same_numbers_and_metadata(runs, onnx_exports, workdir):
    run = runs["regression"]
    result = export_run(run, "pt2", workdir / "regression.pt2")
    assert result.parity.max_abs["prediction"] <= TOLERANCE
    metadata = {}
    module = load_pt2(result.path, metadata).module()
    rows = encode_rows(_raw_rows(run), run.preprocessor)
    with torch.inference_mode():
        got = module(torch.from_numpy(rows)).numpy()
        one = module(torch.from_numpy(rows[:1])).numpy()
    (from_onnx,) = _session(onnx_exports["regression"].path).run(None, {"rows": rows})
    _assert_close(got, from_onnx)
    _assert_close(one, from_onnx[:1])
    assert metadata["run_id"] == run.id and metadata["input_columns"] == ["x1", "x2", "colour"]


def test_onnx_metadata_names_columns_classes_task_and_origin(runs, onnx_exports):
    model = onnx.load(str(onnx_exports["classification"].path))
    props = {entry.key: entry.value for entry in model.metadata_props}
    assert props["run_id"] == runs["classification"].id
    assert props["task"] == "classification" and props["target"] == "label"
    assert json.loads(props["classes"]) == ["a", "b", "c"]
    assert json.loads(props["input_columns"]) == ["x1", "x2"]
    assert props["trainwise_version"] and "input_encoding" in props
    table = onnx.load(str(onnx_exports["regression"].path))
    props = {entry.key: entry.value for entry in table.metadata_props}
    assert json.loads(props["categorical_columns"]) == {"colour": ["blue", "green", "red"]}
    dims = [d.dim_param or d.dim_value for d in table.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3]


# ------------------------------------------------------------------ the CLI and refusals
def test_cli_exports_and_reports_the_difference(runs, workdir, invoke):
    out = workdir / "cli.onnx"
    result = invoke("export", runs["regression"].path, "--format", "onnx", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.is_file() and "max abs difference" in result.output
    assert "test split's 60 rows" in result.output


def test_an_unfinished_run_is_refused(runs, workdir, invoke):
    unfinished = workdir / "unfinished"
    shutil.copytree(runs["regression"].path, unfinished)
    (unfinished / "model.safetensors").unlink()
    result = invoke("export", unfinished, "--format", "pt2")
    assert result.exit_code == 2
    assert "has no model.safetensors" in result.output and "trainwise resume" in result.output


def test_without_the_onnx_extra_the_install_command_is_named(runs, invoke, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxscript" else real(name, *a))
    result = invoke("export", runs["regression"].path, "--format", "onnx")
    assert result.exit_code == 2 and "pip install 'trainwise[onnx]'" in result.output


def test_mc_dropout_raster_and_segmentation_runs_are_refused():
    def fake(kind, task, mc_dropout=0):
        return SimpleNamespace(id="r1", config=SimpleNamespace(
            data=SimpleNamespace(kind=kind), task=SimpleNamespace(type=task,
                                                                  mc_dropout=mc_dropout)))

    with pytest.raises(UserError, match="sliding window.*trainwise segment"):
        refuse_unsupported(fake("raster", "segmentation"))
    with pytest.raises(UserError, match="task.mc_dropout: 5"):
        refuse_unsupported(fake("tabular", "probabilistic_regression", 5))


def test_a_mismatch_fails_loudly_and_writes_nothing(runs, workdir, invoke, monkeypatch):
    monkeypatch.setattr("trainwise.export.parity.ATOL", -1.0)  # no difference can pass
    out = workdir / "mismatch.pt2"
    result = invoke("export", runs["regression"].path, "--format", "pt2", "--out", out)
    assert result.exit_code == 1
    assert "does not reproduce" in result.output and not out.exists()
