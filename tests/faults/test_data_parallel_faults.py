"""Data-parallel runs (torchrun, 2 ranks, gloo) stopped or broken at a random moment resume
to the bit-identical result of the uninterrupted 2-rank run; a dead rank is named."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
from safetensors.torch import load_file

from tests.test_data_parallel import ENV, ddp_config, history, only_run, trainwise

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

EPOCHS = 150  # long enough to be caught training (~40 ms an epoch), short enough for CI


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted 2-rank run."""
    folder = tmp_path_factory.mktemp("ddp-reference")
    config = ddp_config(folder, epochs=EPOCHS)
    result = trainwise("train", str(config), "--runs-dir", str(folder / "runs"), "--quiet",
                       "--nproc", "2")
    assert result.returncode == 0, result.stderr[:6000]
    return only_run(folder / "runs")


def start(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    config = ddp_config(tmp_path, epochs=EPOCHS)
    runs = tmp_path / "runs"
    process = subprocess.Popen(
        [sys.executable, "-m", "trainwise", "train", str(config), "--runs-dir", str(runs),
         "--quiet", "--nproc", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=ENV, start_new_session=True)
    return process, runs


def wait_for_training(process: subprocess.Popen, runs: Path, seed: int) -> Path:
    """The run, once its first checkpoint is written, and a random moment later."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list(runs.glob("2*/checkpoints/last.pt"))
        if found:
            time.sleep(random.Random(seed).uniform(0.0, 1.0))
            return found[0].parent.parent
        assert process.poll() is None, process.communicate()[1][-3000:]
        time.sleep(0.05)
    raise AssertionError("the run wrote no checkpoint within 120 s")


def same_training(reference: Path, resumed: Path) -> None:
    assert history(resumed) == history(reference)
    ours, theirs = (load_file(run / "model.safetensors") for run in (resumed, reference))
    assert all(torch.equal(ours[name], theirs[name]) for name in theirs)


@pytest.mark.parametrize("seed", [1, 2])
def test_sigterm_stops_every_rank_and_resumes_exactly(tmp_path, reference, seed):
    process, runs = start(tmp_path)
    run = wait_for_training(process, runs, seed)
    os.killpg(process.pid, signal.SIGTERM)  # what Ctrl-C or a batch scheduler sends
    process.communicate(timeout=120)
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "stopped", status
    resumed = trainwise("resume", str(run), "--runs-dir", str(runs), "--quiet", "--nproc", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    same_training(reference, run)


def test_a_dead_rank_fails_the_run_by_name_and_it_resumes_exactly(tmp_path, reference):
    process, runs = start(tmp_path)
    run = wait_for_training(process, runs, seed=3)
    ranks = {int(child.environ().get("RANK", -1)): child
             for child in psutil.Process(process.pid).children(recursive=True)
             if "RANK" in child.environ()}
    ranks[1].kill()
    process.communicate(timeout=120)
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed"
    assert f"rank 1 (pid {ranks[1].pid}" in status["reason"]
    resumed = trainwise("resume", str(run), "--runs-dir", str(runs), "--quiet", "--nproc", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    same_training(reference, run)


def test_a_two_rank_run_resumes_in_one_process_and_says_what_changes(tmp_path, reference):
    process, runs = start(tmp_path)
    run = wait_for_training(process, runs, seed=4)
    os.killpg(process.pid, signal.SIGTERM)
    process.communicate(timeout=120)
    resumed = trainwise("resume", str(run), "--runs-dir", str(runs), "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed with 1 process(es); the run was trained with 2" in resumed.stderr
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["world_size_changes"][0].startswith("resumed with 1 process(es)")
    ours, theirs = history(run), history(reference)
    assert len(ours) == len(theirs) == EPOCHS
    # Not bit-identical (sums in another order), but the same training to float precision.
    assert ours[-1]["loss"] == pytest.approx(theirs[-1]["loss"], rel=1e-3)
