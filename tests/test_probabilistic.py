"""Probabilistic regression end to end: config, per-site targets, training, evaluation, predict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tests.helpers import assert_same_run
from trainwise import fit, resume
from trainwise.data.sites import aggregate_sites
from trainwise.errors import UserError
from trainwise.models.ensemble import Ensemble
from trainwise.models.predictive import mixture_parts


def _heteroscedastic(n: int, seed: int = 0) -> pd.DataFrame:
    """y = 2x + noise whose std grows with |x|: a model must learn where it is unsure."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, n)
    std = 0.2 + 0.5 * np.abs(x)
    return pd.DataFrame({"x": x, "z": rng.normal(size=n), "y": 2 * x + rng.normal(0, std)})


def _sites(n_sites: int, seed: int = 0) -> pd.DataFrame:
    """Repeated measurements per site; site 0 has a single measurement."""
    rng = np.random.default_rng(seed)
    rows = []
    for site in range(n_sites):
        lon, lat = rng.uniform(0, 10, 2)
        mean, std = 1.0 + 0.5 * lat, 0.2 + 0.1 * lon
        count = 1 if site == 0 else int(rng.integers(2, 8))
        for value in rng.normal(mean, std, count):
            rows.append({"code": f"S{site:03d}", "lon": lon, "lat": lat, "y": value})
    return pd.DataFrame(rows)


def _config(source, **task) -> dict:
    return {
        "name": "prob",
        "data": {"source": str(source), "target": "y"},
        "task": {"type": "probabilistic_regression", **task},
        "model": {"hidden": [16, 16]},
        "train": {"epochs": 30, "batch_size": 32, "lr": 0.01},
    }


@pytest.fixture
def measurements_csv(tmp_path):
    path = tmp_path / "measurements.csv"
    _heteroscedastic(600).to_csv(path, index=False)
    return path


@pytest.fixture
def sites_csv(tmp_path):
    path = tmp_path / "sites.csv"
    _sites(120).to_csv(path, index=False)
    return path


def test_gaussian_nll_run_learns_where_it_is_unsure(measurements_csv, runs_dir):
    run = fit(_config(measurements_csv), runs_dir=runs_dir, progress=False)
    test = run.metrics["test"]
    for key in ("nll", "crps", "coverage_90", "sharpness", "rmse", "mae"):
        assert key in test
    assert 0.75 <= test["coverage_90"] <= 0.98
    frame = pd.DataFrame({"x": [0.0, 1.9], "z": [0.0, 0.0]})
    predicted = run.predict(frame)
    assert list(predicted.columns[:3]) == ["y_pred", "y_pred_variance", "y_pred_std"]
    # The noise std at x=1.9 is 1.15, at x=0 it is 0.2: the model must say so.
    assert predicted["y_pred_variance"].iloc[1] > 4 * predicted["y_pred_variance"].iloc[0]
    mean, variance = run.predict_distribution(frame)
    np.testing.assert_allclose(mean, predicted["y_pred"])
    np.testing.assert_allclose(variance, predicted["y_pred_variance"])
    assert run.config.model.init == "xavier_normal"


def test_evaluate_scores_measurements_like_training_did(measurements_csv, runs_dir):
    run = fit(_config(measurements_csv), runs_dir=runs_dir, progress=False)
    rows = pd.read_csv(measurements_csv)
    scored = run.evaluate(rows)
    mean, variance = run.predict_distribution(rows)
    expected_nll = np.mean(0.5 * (np.log(2 * np.pi * variance) + (rows["y"] - mean) ** 2 / variance))
    assert scored["nll"] == pytest.approx(expected_nll, rel=1e-5)


def test_group_by_aggregates_sites_and_trains_with_kl(sites_csv, runs_dir):
    cfg = _config(sites_csv)
    cfg["data"].update(group_by=["code", "lon", "lat"])
    run = fit(cfg, runs_dir=runs_dir, progress=False)
    assert run.config.task.loss == "kl"
    summary = run.run_dir.read_json("data_summary.json")
    assert summary["sites"]["sites"] == 120
    assert summary["sites"]["sites_below_min_count"] == 1  # the one-measurement site
    assert sum(summary["rows"].values()) == 119
    test = run.metrics["test"]
    assert test["n_sites"] == summary["rows"]["test"]
    assert test["n_measurements"] > test["n_sites"]
    for key in ("rmse_site_mean", "rmse_variance", "variance_rank_correlation", "coverage_90"):
        assert key in test
    predictions = pd.read_csv(run.path / "predictions.csv")
    assert {"actual_variance", "predicted_variance"} <= set(predictions.columns)
    assert (run.path / "measurement_predictions.csv").is_file()


def test_site_table_uses_sample_variance_and_drops_single_measurements():
    raw = pd.DataFrame({"code": ["a", "a", "a", "b", "c", "c"], "x": [1.0] * 3 + [2.0] + [3.0] * 2,
                        "y": [1.0, 2.0, 4.0, 5.0, 0.0, 1.0]})
    sites = aggregate_sites(raw, ["code"], "y", ["x"], min_count=2)
    assert sites.table["code"].tolist() == ["a", "c"]
    assert sites.table["y__variance"].tolist() == pytest.approx([np.var([1, 2, 4], ddof=1), 0.5])
    assert sites.report["sites_below_min_count"] == 1
    assert sites.measurements["__site"].tolist() == [0, 0, 0, 1, 1]


def test_identical_measurements_get_the_smallest_site_variance():
    raw = pd.DataFrame({"code": ["a", "a", "b", "b", "c", "c"], "x": [1.0] * 6,
                        "y": [2.0, 2.0, 0.0, 1.0, 0.0, 4.0]})
    sites = aggregate_sites(raw, ["code"], "y", ["x"], min_count=2)
    assert sites.table["y__variance"].tolist() == [0.5, 0.5, 8.0]
    assert sites.report["sites_variance_floored"] == 1
    with pytest.raises(UserError, match="every site has identical measurements"):
        aggregate_sites(raw.iloc[:2], ["code"], "y", ["x"], min_count=2)


def test_ensemble_members_differ_and_combine_as_a_mixture(measurements_csv, runs_dir):
    cfg = _config(measurements_csv)
    cfg["model"]["ensemble"] = 3
    cfg["train"]["epochs"] = 10
    run = fit(cfg, runs_dir=runs_dir, progress=False)
    assert isinstance(run.model, Ensemble)
    features = torch.randn(5, 2)
    with torch.inference_mode():
        output = run.model(features)
    assert output.shape == (5, 3, 2)
    assert not torch.allclose(output[:, 0], output[:, 1])
    parts = mixture_parts(output)
    assert bool((parts["epistemic"] > 0).all())
    predicted = run.predict(pd.DataFrame({"x": [0.5], "z": [0.0]}))
    assert predicted["y_pred_epistemic"].iloc[0] > 0


def test_mc_dropout_predictions_are_repeatable_and_spread(measurements_csv, runs_dir):
    cfg = _config(measurements_csv, mc_dropout=20)
    cfg["model"]["dropout"] = 0.2
    cfg["train"]["epochs"] = 10
    run = fit(cfg, runs_dir=runs_dir, progress=False)
    frame = pd.DataFrame({"x": [0.0, 1.0], "z": [0.0, 0.5]})
    first, second = run.predict(frame), run.predict(frame)
    pd.testing.assert_frame_equal(first, second)
    assert (first["y_pred_epistemic"] > 0).all()


def test_sampled_kl_resumes_exactly(sites_csv, runs_dir):
    cfg = _config(sites_csv, kl_samples=15)
    cfg["data"].update(group_by=["code", "lon", "lat"])
    cfg["train"]["epochs"] = 6
    whole = fit(cfg, runs_dir=runs_dir, progress=False)
    cfg["train"]["epochs"] = 3
    half = fit(cfg, runs_dir=runs_dir, progress=False)
    assert_same_run(whole, resume(half.path, epochs=6, runs_dir=runs_dir, progress=False))


def test_validation_uses_the_closed_form_kl(sites_csv, runs_dir):
    """Sampling noise must not reach val_loss: two runs differing only in draws agree there."""
    cfg = _config(sites_csv, kl_samples=15)
    cfg["data"].update(group_by=["code", "lon", "lat"])
    cfg["train"].update(epochs=1, lr=1e-12)  # weights do not move: val_loss is the init's
    sampled = fit(cfg, runs_dir=runs_dir, progress=False)
    cfg["task"]["kl_samples"] = 0
    exact = fit(cfg, runs_dir=runs_dir, progress=False)
    assert sampled.history[0]["val_loss"] == pytest.approx(exact.history[0]["val_loss"], rel=1e-6)
    assert sampled.history[0]["loss"] != pytest.approx(exact.history[0]["loss"], rel=1e-3)


@pytest.mark.parametrize("change, message", [
    ({"task": {"loss": "kl"}}, "set data.group_by"),
    ({"data": {"group_by": ["code"]}, "task": {"loss": "gaussian_nll"}}, "only task.loss: kl"),
    ({"task": {"mc_dropout": 10}}, "needs model.dropout"),
    ({"task": {"kl_samples": 1}}, "1 draw has no variance"),
])
def test_config_mistakes_name_the_fix(sites_csv, invoke, tmp_path, change, message):
    import yaml

    cfg = _config(sites_csv)
    for section, values in change.items():
        cfg[section].update(values)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = invoke("train", str(path))
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_group_by_needs_probabilistic_task(sites_csv, invoke, tmp_path):
    import yaml

    cfg = _config(sites_csv)
    cfg["task"] = {"type": "regression"}
    cfg["data"]["group_by"] = ["code"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = invoke("train", str(path))
    assert result.exit_code == 2
    assert "data.group_by applies to task.type: probabilistic_regression" in result.output


def test_probabilistic_runs_draw_calibration_plots(sites_csv, runs_dir):
    cfg = _config(sites_csv)
    cfg["data"].update(group_by=["code", "lon", "lat"])
    cfg["train"]["epochs"] = 5
    run = fit(cfg, runs_dir=runs_dir, progress=False, plots=True)
    for name in ("calibration.png", "pit_histogram.png", "variance_vs_site.png",
                 "predicted_vs_actual.png"):
        assert (run.path / "plots" / name).stat().st_size > 5_000, name


def test_gp_baseline_is_scored_beside_the_network(sites_csv, runs_dir):
    cfg = _config(sites_csv, gp_baseline=True)
    cfg["data"].update(group_by=["code", "lon", "lat"], features=["lon", "lat"])
    cfg["train"]["epochs"] = 3
    run = fit(cfg, runs_dir=runs_dir, progress=False)
    baseline = run.metrics["test"]["gp_baseline"]
    assert "val" not in run.metrics or "gp_baseline" not in run.metrics["val"]
    # The site means follow 1 + 0.5 lat: a GP on lon/lat finds that trend far better than 3
    # epochs of a network do, down to the noise of a site mean from a few measurements.
    predictions = pd.read_csv(run.path / "predictions.csv")
    spread = predictions.loc[predictions["split"] == "test", "actual"].std()
    assert baseline["rmse_site_mean"] < 0.5 * spread
    assert baseline["rmse_site_mean"] < run.metrics["test"]["rmse_site_mean"]
    assert baseline["n_sites"] == run.metrics["test"]["n_sites"]


def test_mixture_parts_match_a_brute_force_sample():
    means = np.array([[0.0, 5.0, -1.0], [2.0, 5.5, -1.0], [1.0, 3.0, -1.0]])  # (K=3, N=3)
    variances = np.array([[1.0, 0.1, 2.0], [0.5, 0.2, 2.0], [2.0, 0.3, 2.0]])
    output = torch.from_numpy(np.stack([means.T, variances.T], axis=2))  # (N, K, 2)
    parts = {name: value.numpy() for name, value in mixture_parts(output).items()}
    rng = np.random.default_rng(0)
    member = rng.integers(0, 3, size=(400_000, 3))  # (S, N): which member each draw uses
    columns = np.arange(3)
    sample = rng.normal(means[member, columns], np.sqrt(variances[member, columns]))  # (S, N)
    np.testing.assert_allclose(parts["mean"], sample.mean(axis=0), atol=0.01)
    np.testing.assert_allclose(parts["variance"], sample.var(axis=0), rtol=0.01)
    # The law of total variance, and its split.
    np.testing.assert_allclose(parts["variance"],
                               (variances + means ** 2).mean(axis=0) - parts["mean"] ** 2)
    np.testing.assert_allclose(parts["aleatoric"], [7 / 6, 0.2, 2.0])
    np.testing.assert_allclose(parts["epistemic"][2], 0.0)  # members agree on the last row
