"""Sweeps: the grid, the plan, batched members equal to separate runs, per-member early
stopping and resume, the results table, and the command."""

from __future__ import annotations

import math

import pytest
import torch

from tests.helpers import small_config
from trainwise import fit, resume
from trainwise.config.load import load_config
from trainwise.errors import UserError
from trainwise.sweep import sweep
from trainwise.sweep.grid import expand, grid_from_options, parse_grid_option
from trainwise.sweep.plan import batch_problem

# Float32, short runs: a batched matmul rounds differently in the last bit than a single one,
# and Adam carries the difference along; over a few epochs it stays far below this.
RTOL = 1e-5
CURVE_KEYS = ("loss", "mae", "val_loss", "val_mae", "grad_norm", "lr")


def _config(source, **train):
    cfg = small_config(source, **{"epochs": 4, "batch_size": 32, **train})
    cfg["model"]["hidden"] = [16, 8]
    return cfg


def assert_same_curves(expected: list[dict], actual: list[dict], rtol: float = RTOL) -> None:
    assert len(actual) == len(expected)
    for want, got in zip(expected, actual):
        for key in CURVE_KEYS:
            assert math.isclose(got[key], want[key], rel_tol=rtol, abs_tol=1e-7), \
                (want["epoch"], key, want[key], got[key])


# ----------------------------------------------------------------- the grid
def test_grid_options_parse_yaml_values_and_keep_lists_whole():
    assert parse_grid_option("train.lr=0.01,1e-3") == ("train.lr", [0.01, 0.001])
    assert parse_grid_option("model.hidden=[32,32],[64]") == ("model.hidden", [[32, 32], [64]])
    assert grid_from_options(["a=1", "b=x,y"]) == {"a": [1], "b": ["x", "y"]}
    with pytest.raises(UserError, match="key=value1,value2"):
        parse_grid_option("train.lr")
    with pytest.raises(UserError, match="given twice"):
        grid_from_options(["a=1", "a=2"])


def test_expand_makes_every_combination_and_pins_one_split_for_seeds(regression_csv):
    base = load_config(_config(regression_csv, seed=7))
    members = expand(base, {"train.lr": [0.1, 0.01], "model.dropout": [0.0, 0.5]}, seeds=3)
    assert len(members) == 12
    assert [m.values for m in members[:3]] == [{"train.lr": 0.1, "model.dropout": 0.0}] * 3
    assert [m.seed for m in members[:3]] == [7, 8, 9]
    assert members[3].values == {"train.lr": 0.1, "model.dropout": 0.5}
    assert {m.config.data.split.seed for m in members} == {7}  # one split for every seed
    assert members[4].config.model.dropout == 0.5 and members[4].config.train.seed == 8
    assert members[4].config.sweep is None
    with pytest.raises(UserError, match=r"(?s)sweep point train.lr=-1.*train.lr"):
        expand(base, {"train.lr": [-1]}, seeds=1)
    with pytest.raises(UserError, match="non-empty list"):
        expand(base, {"train.lr": []}, seeds=1)


def test_batch_problem_names_what_members_may_not_differ_in(regression_csv):
    base = load_config(_config(regression_csv))
    same_shape = expand(base, {"train.lr": [0.1, 0.01], "train.weight_decay": [0, 0.1]}, 2)
    assert batch_problem([m.config for m in same_shape]) is None
    wider = expand(base, {"model.hidden": [[16], [32]]}, 1)
    assert "model.hidden" in batch_problem([m.config for m in wider])
    seeds_alone = expand(base, {"train.seed": [1, 2]}, 1)  # the split follows train.seed
    assert "data.split.seed" in batch_problem([m.config for m in seeds_alone])


# ----------------------------------------------------------------- batched = separate
def test_batched_members_match_separate_runs(regression_csv, runs_dir):
    """Same seeds, same curves (1e-5 relative, float32): rates, decay and seeds differ."""
    cfg = _config(regression_csv)
    result = sweep(cfg, {"train.lr": [0.03, 0.003], "train.weight_decay": [0.0, 0.01]},
                   seeds=2, runs_dir=runs_dir, progress=False)
    assert result.plan.mode == "batched"
    assert len(result.runs) == 8
    for member, run in zip(result.members, result.runs):
        manifest = run.run_dir.read_json("manifest.json")
        assert manifest["training_path"]["path"] == "batched"
        assert manifest["sweep"]["member"] == member.index
        alone = fit(member.config, runs_dir=runs_dir / "alone", progress=False)
        assert alone.run_dir.read_json("manifest.json")["training_path"]["path"] == "fused"
        assert_same_curves(alone.history, run.history)
        # Dead units from the one batched validation pass: each member's own share, in the
        # record's place a separate run gives it.
        assert [record["dead_units"] for record in run.history] == \
            [record["dead_units"] for record in alone.history]
        assert list(run.history[-1]) == list(alone.history[-1])
        for name, tensor in alone.model.state_dict().items():
            torch.testing.assert_close(run.model.state_dict()[name], tensor,
                                       rtol=1e-4, atol=1e-6)


def test_shared_order_members_match_separate_runs_in_classification(classification_csv,
                                                                       runs_dir):
    cfg = small_config(classification_csv, target="label", task="classification", epochs=3)
    result = sweep(cfg, {"train.lr": [0.05, 0.005]}, runs_dir=runs_dir, progress=False)
    assert result.plan.mode == "batched"
    for member, run in zip(result.members, result.runs):
        alone = fit(member.config, runs_dir=runs_dir / "alone", progress=False)
        for want, got in zip(alone.history, run.history):
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                assert math.isclose(got[key], want[key], rel_tol=RTOL, abs_tol=1e-7), key


def test_members_differ_in_dropout_within_one_batched_model(regression_csv, runs_dir):
    """The issue's own example: rates x dropout 0 / 0.2. Members without dropout train as
    their separate runs do (their keep-mask is exactly 1); members with it drop units."""
    cfg = _config(regression_csv, epochs=3)
    result = sweep(cfg, {"train.lr": [0.01, 0.001], "model.dropout": [0.0, 0.2]},
                   runs_dir=runs_dir, progress=False)
    assert result.plan.mode == "batched"
    for member, run in zip(result.members, result.runs):
        assert run.config.model.dropout == member.values["model.dropout"]
        # Its own layer names: a model with dropout has Dropout modules between the layers.
        assert set(run.model.state_dict()) == set(
            fit(member.config, runs_dir=runs_dir / "alone", progress=False,
                train__epochs=1).model.state_dict())
        if member.values["model.dropout"] == 0.0:
            alone = fit(member.config, runs_dir=runs_dir / "alone", progress=False)
            assert_same_curves(alone.history, run.history)


def test_per_member_dropout_drops_each_members_share_of_units():
    from trainwise.fused.step import BatchedFusedStep
    from trainwise.models.mlp import MLP
    from trainwise.training.losses import MSELoss

    torch.manual_seed(0)
    models = [MLP(4, 1, hidden=[256], dropout=rate) for rate in (0.0, 0.25, 0.5)]
    step = BatchedFusedStep(models, MSELoss(), lr=0.0)
    step.kernel.forward(torch.randn(64, 4), training=True)
    mask = step.kernel._tape[0][3]  # (K, B, 256) scaled keep-masks
    dropped = (mask == 0).float().mean(dim=(1, 2))
    assert dropped[0] == 0 and torch.all(mask[0] == 1)
    assert dropped[1].item() == pytest.approx(0.25, abs=0.02)
    assert dropped[2].item() == pytest.approx(0.5, abs=0.02)
    assert mask[2].max().item() == pytest.approx(2.0)  # kept units scaled by 1 / (1 - p)
    # Each member's state_dict under its own names (Dropout shifts the layer numbers).
    assert list(step.member_state_dict(1)) == list(models[1].state_dict())


def test_each_member_stops_early_on_its_own_and_keeps_its_best_weights(regression_csv,
                                                                          runs_dir):
    cfg = _config(regression_csv, epochs=60,
                  early_stopping={"enabled": True, "patience": 3, "restore_best": True})
    result = sweep(cfg, {"train.lr": [0.1, 0.0003]}, runs_dir=runs_dir, progress=False)
    fast, slow = result.runs
    assert fast.status["stop_reason"] and len(fast.history) < 60
    assert len(slow.history) > len(fast.history)
    # The stopped member's final weights are its best epoch's, as in a separate run.
    best = torch.load(fast.path / "checkpoints" / "best.pt", weights_only=True)
    for name, tensor in fast.model.state_dict().items():
        assert torch.equal(tensor, best["model"][name]), name
    alone = fit(result.members[0].config, runs_dir=runs_dir / "alone", progress=False)
    assert len(alone.history) == len(fast.history)  # stopped after the same epoch
    # Ten epochs at a high rate carry the last-bit differences further than the short runs
    # above (the first-batch gradient norm near the minimum moves most): 1e-4 here.
    assert_same_curves(alone.history, fast.history, rtol=1e-4)


def test_a_member_resumes_alone_where_the_sweep_left_it(regression_csv, runs_dir):
    cfg = _config(regression_csv, epochs=3)
    result = sweep(cfg, {"train.lr": [0.02, 0.002]}, runs_dir=runs_dir, progress=False)
    continued = resume(result.runs[1].path, epochs=6, runs_dir=runs_dir, progress=False)
    straight_cfg = result.members[1].config.model_copy(deep=True)
    straight_cfg.train.epochs = 6
    straight = fit(straight_cfg, runs_dir=runs_dir / "alone", progress=False)
    assert_same_curves(straight.history, continued.history)


# ----------------------------------------------------------------- plans and results
def test_runs_that_cannot_batch_train_one_after_another(regression_csv, runs_dir):
    cfg = _config(regression_csv, epochs=2)
    result = sweep(cfg, {"model.hidden": [[4], [8]]}, runs_dir=runs_dir, progress=False)
    assert result.plan.mode == "sequential" and "model.hidden" in result.plan.reason
    assert [run.config.model.hidden for run in result.runs] == [[4], [8]]
    with pytest.raises(UserError, match="batched is not possible.*model.hidden"):
        sweep(cfg, {"model.hidden": [[4], [8]]}, mode="batched", runs_dir=runs_dir,
              progress=False)


def test_results_are_sorted_by_the_monitored_value_with_mean_and_std_over_seeds(
        regression_csv, runs_dir):
    cfg = _config(regression_csv, epochs=3)
    result = sweep(cfg, {"train.lr": [0.0001, 0.03]}, seeds=2, runs_dir=runs_dir,
                   progress=False)
    values = result.table["best_val_loss"].tolist()
    assert values == sorted(values)
    assert result.best.id == result.table["run"].iloc[0]
    points = result.points
    assert points["train.lr"].tolist() == [0.03, 0.0001]  # the better rate first
    for point, row in points.iterrows():
        members = result.table[result.table["train.lr"] == row["train.lr"]]["best_val_loss"]
        assert row["best_val_loss_mean"] == pytest.approx(members.mean())
        assert row["best_val_loss_std"] == pytest.approx(members.std(ddof=1))
    markdown = (result.path / "results.md").read_text()
    assert "±" in markdown and "best_val_loss" in markdown
    assert (result.path / "plots" / "overlay.png").stat().st_size > 1000


def test_sweep_block_in_yaml_and_cli(regression_csv, runs_dir, invoke, tmp_path):
    import yaml

    cfg = _config(regression_csv, epochs=2)
    cfg["sweep"] = {"grid": {"train.lr": [0.01, 0.001]}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = invoke("sweep", path, "--grid", "train.weight_decay=0,0.1", "--runs-dir",
                    runs_dir, "--quiet")
    assert result.exit_code == 0, result.output
    assert "4 runs" in result.output and "best:" in result.output
    bad = invoke("sweep", path, "--grid", "train.lrr=1", "--runs-dir", runs_dir)
    assert bad.exit_code == 2 and "train.lrr" in bad.output
    single = invoke("sweep", path, "--runs-dir", runs_dir)  # the block's grid alone is fine
    assert single.exit_code == 0, single.output


@pytest.mark.integration
@pytest.mark.slow
def test_parallel_mode_trains_separate_processes(regression_csv, runs_dir):
    cfg = _config(regression_csv, epochs=2)
    result = sweep(cfg, {"train.lr": [0.01, 0.001]}, mode="parallel", workers=2,
                   runs_dir=runs_dir, progress=False)
    assert result.plan.mode == "parallel"
    assert [run.status["status"] for run in result.runs] == ["finished", "finished"]
    assert [run.config.train.lr for run in result.runs] == [0.01, 0.001]
