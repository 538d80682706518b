"""Data-parallel training (torchrun, gloo on CPU): the ranks together train what one process
trains with the same global batch, and the pieces that make that so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import InterruptAtStep, small_config
from trainwise.callbacks import EarlyStopping
from trainwise.callbacks.base import CallbackList
from trainwise.distributed.sharded_batches import ShardedBatches, shard_bounds
from trainwise.distributed.world import World
from trainwise.training.batches import InMemoryBatches

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def ddp_config(tmp_path: Path, epochs: int = 6, **train) -> Path:
    """Auto MPG with a batch of 33 rows, which does not split evenly over 2 ranks."""
    import yaml

    config = {
        "name": "ddp",
        "data": {"source": "auto_mpg", "target": "mpg", "drop": ["car_name"],
                 "categorical": ["origin"], "split": {"val": 0.2, "test": 0.2}},
        "task": {"type": "regression"},
        "model": {"hidden": [32, 32]},
        "train": {"epochs": epochs, "batch_size": 33, "lr": 0.003,
                  "early_stopping": {"enabled": False}, **train},
    }
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def trainwise(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trainwise", *args], capture_output=True,
                          text=True, timeout=timeout, env=ENV)


def only_run(runs: Path) -> Path:
    (run,) = [path for path in runs.iterdir() if path.is_dir() and path.name[0].isdigit()]
    return run


def history(run: Path) -> list[dict]:
    # dead_units is measured on each rank's share of the validation rows (rank 0's is kept).
    return [{key: value for key, value in record.items()
             if key not in ("epoch_time_s", "dead_units")}
            for record in json.loads((run / "history.json").read_text())]


@pytest.mark.slow
def test_two_processes_train_what_one_process_trains(tmp_path):
    config = ddp_config(tmp_path)
    one = trainwise("train", str(config), "--runs-dir", str(tmp_path / "one"), "--quiet")
    two = trainwise("train", str(config), "--runs-dir", str(tmp_path / "two"), "--quiet",
                    "--nproc", "2")
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    single, parallel = history(only_run(tmp_path / "one")), history(only_run(tmp_path / "two"))
    assert len(single) == len(parallel) == 6
    for a, b in zip(single, parallel):
        assert a.keys() == b.keys()
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=2e-5, abs=1e-7), (a["epoch"], key)
    manifest = json.loads((only_run(tmp_path / "two") / "manifest.json").read_text())
    assert manifest["data_parallel"]["world_size"] == 2
    assert manifest["data_parallel"]["backend"] == "gloo"
    assert manifest["training_path"]["path"] == "autograd"  # the fused MLP path is one process
    assert "Run record:" in two.stdout and two.stdout.count("Run record:") == 1  # rank 0 only


def test_what_ranks_cannot_train_together_is_refused_before_they_start(tmp_path,
                                                                        classification_csv):
    import yaml

    config = tmp_path / "pseudo.yaml"
    config.write_text(yaml.safe_dump(small_config(classification_csv, "label", "classification",
                                                  pseudo_label={"enabled": True})))
    result = trainwise("train", str(config), "--runs-dir", str(tmp_path / "runs"), "--nproc",
                       "2")
    assert result.returncode == 2
    assert "train.pseudo_label" in result.stderr
    assert "torchrun" not in result.stderr.lower().replace("without torchrun", "")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("rows,size", [(33, 2), (32, 2), (5, 3), (1, 2), (0, 4)])
def test_shards_cover_every_row_once(rows, size):
    bounds = [shard_bounds(rows, rank, size) for rank in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == rows
    assert all(stop == start for (_, stop), (start, _) in zip(bounds, bounds[1:]))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_each_rank_takes_its_share_of_the_same_seeded_order():
    features, targets = torch.arange(20.0).reshape(10, 2), torch.arange(10.0)
    whole = InMemoryBatches(features, targets, batch_size=4, seed=3)
    shards = [ShardedBatches(InMemoryBatches(features, targets, batch_size=4, seed=3), rank, 2)
              for rank in range(2)]
    for epoch in range(2):
        for batch, *parts in zip(whole.epoch(epoch), *(shard.epoch(epoch) for shard in shards)):
            assert torch.equal(torch.cat([part[1] for part in parts]), batch[1])
            assert all(part.total_rows == len(batch[1]) for part in parts)
    skipped = list(shards[1].epoch(1, skip=2))
    assert len(skipped) == len(whole) - 2  # batch_in_epoch counts global batches


def test_a_single_process_is_not_a_world():
    assert World.from_environment({}) is None
    assert World.from_environment({"WORLD_SIZE": "1", "RANK": "0"}) is None
    world = World.from_environment({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"},
                                   device="cpu")
    assert (world.rank, world.size, world.backend, world.is_main) == (1, 2, "gloo", False)


def test_callback_state_follows_its_kind_not_its_position():
    """A rank > 0 runs only the training callbacks, and a resume with --quiet has no progress
    bar: early stopping still gets its counters back."""
    saved = CallbackList([InterruptAtStep(1), EarlyStopping(patience=3)])
    saved.callbacks[1].wait = 2
    fewer = CallbackList([EarlyStopping(patience=3)])
    fewer.load_state_dict(saved.state_dict())
    assert fewer.callbacks[0].wait == 2
