"""A killed sweep resumes with `trainwise resume SWEEP`: batched members batched again from the
epoch their shared checkpoint clock left them at, sequential members one by one, members
never started trained; every member bit-identical to the uninterrupted sweep's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.helpers import small_config
from trainwise.tracking import RunStore

CLI = [sys.executable, "-m", "trainwise.cli"]
GRID = ("--grid", "train.lr=0.01,0.003,0.001")


def sweep_config(tmp_path: Path, source, epochs: int) -> Path:
    config = small_config(source, epochs=epochs, batch_size=8, early_stopping={"enabled": False},
                          checkpoint={"last_every_s": 0.2})
    config["model"]["dropout"] = 0.1  # the masks come from the shared RNG: it must resume too
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_sweep(config: Path, runs_dir: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "sweep", str(config), *GRID, "--mode", mode, "--runs-dir",
                             str(runs_dir), "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def kill_after_checkpoints(process: subprocess.Popen, runs_dir: Path, epochs: int) -> None:
    """SIGKILL once the store holds ``epochs`` epochs of some member (checkpoints behind)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        store = runs_dir / "trainwise.db"
        if store.exists() and any((row["epochs"] or 0) >= epochs
                                  for row in RunStore(store).list_runs()):
            break
        time.sleep(0.05)
    assert process.poll() is None, "the sweep ended before it could be killed"
    process.kill()
    process.communicate()


def kill_in_validation(config: Path, runs_dir: Path, validation: int) -> None:
    """Run the batched sweep through the fault driver, which SIGKILLs it inside its
    ``validation``-th batched validation pass: every member stopped at the same epoch.

    (A kill timed from outside may land after one member's last checkpoint and before the
    others': the members left then resume as a smaller batch, whose matrix products round
    differently in the last bit; docs/sweeps.md.)
    """
    driver = Path(__file__).parent / "faults" / "driver.py"
    fault = {"kind": "validation", "at": validation, "phase": "before"}
    result = subprocess.run([sys.executable, str(driver), "sweep", str(config), *GRID, "--mode",
                             "batched", "--runs-dir", str(runs_dir), "--quiet"],
                            env={**os.environ, "TRAINWISE_FAULT": json.dumps(fault)},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr


def members(runs_dir: Path) -> dict[int, Path]:
    found = {}
    for manifest in runs_dir.glob("*/manifest.json"):
        found[json.loads(manifest.read_text())["sweep"]["member"]] = manifest.parent
    return found


def timeless_history(run: Path) -> list[dict]:
    return [{k: v for k, v in record.items() if k != "epoch_time_s"}
            for record in json.loads((run / "history.json").read_text())]


def assert_same_members(expected: dict[int, Path], actual: dict[int, Path]) -> None:
    assert sorted(actual) == sorted(expected)
    for index, run in actual.items():
        assert timeless_history(run) == timeless_history(expected[index]), index
        want, got = (load_file(path / "model.safetensors") for path in (expected[index], run))
        assert all(torch.equal(want[name], got[name]) for name in want), index
        assert json.loads((run / "metrics.json").read_text()) == \
            json.loads((expected[index] / "metrics.json").read_text())
        assert not list(run.rglob("*.tmp"))


@pytest.mark.faults  # real kills of whole sweeps: ~1 min each, in CI's fault set
@pytest.mark.parametrize("mode, epochs, kill_at", [("batched", 60, 20), ("sequential", 25, 10)])
def test_a_killed_sweep_resumes_bit_identical(tmp_path, regression_csv, mode, epochs, kill_at):
    config = sweep_config(tmp_path, regression_csv, epochs)
    reference = run_sweep(config, tmp_path / "reference", mode)
    assert reference.wait(timeout=300) == 0, reference.stdout.read()
    reference.stdout.close()

    runs_dir = tmp_path / "runs"
    if mode == "batched":
        kill_in_validation(config, runs_dir, kill_at)
    else:
        kill_after_checkpoints(run_sweep(config, runs_dir, mode), runs_dir, kill_at)
    sweep_id = next((runs_dir / "sweeps").iterdir()).name
    resumed = subprocess.run([*CLI, "resume", sweep_id, "--runs-dir", str(runs_dir), "--quiet"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "best:" in resumed.stdout
    assert_same_members(members(tmp_path / "reference"), members(runs_dir))
    record = json.loads((runs_dir / "sweeps" / sweep_id / "sweep.json").read_text())
    assert len(record["runs"]) == 3
