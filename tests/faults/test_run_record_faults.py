"""What a killed run's record says and allows: `trainwise runs` shows it as interrupted, a
second resume while one is training is refused (exit 2) without disturbing it, and a damaged
last.pt falls back to last.prev.pt; each run still ends bit-identical to the reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults import harness
from tests.faults.harness import at_validation, pause_at_validation

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

SCENARIO = "regression"
USER_ERROR_EXIT_CODE = 2


def killed_run(tmp_path: Path, at: int) -> tuple[Path, Path]:
    """A regression run SIGKILLed after its ``at``-th validation; (run folder, runs folder)."""
    config = harness.write_config(harness.SCENARIOS[SCENARIO], tmp_path)
    runs_dir = tmp_path / "runs"
    child = harness.run_child(harness.start_argv(harness.SCENARIOS[SCENARIO], config, runs_dir),
                              at_validation(at), tmp_path)
    assert child.killed, child.tail()
    [run_dir] = harness.run_dirs(runs_dir)
    return run_dir, runs_dir


def assert_matches_reference(run_dir: Path, references) -> None:
    actual = harness.read_record(run_dir)
    assert actual.status.get("status") == "finished"
    expected = references.get(SCENARIO).records[actual.name]
    assert harness.compare_exact(expected, actual) == []
    assert harness.leftover_temporaries(run_dir) == []


def test_trainwise_runs_shows_a_killed_run_as_interrupted(tmp_path):
    run_dir, runs_dir = killed_run(tmp_path, at=200)
    listing = harness.run_child(["runs", "--runs-dir", str(runs_dir)], None, tmp_path)
    assert listing.returncode == 0, listing.tail()
    rows = [line for line in listing.output.splitlines()
            if run_dir.name in line and "resume it with" not in line]
    assert rows, listing.output
    assert "interrupted" in rows[0] and "running" not in rows[0], listing.output


def test_a_second_resume_while_one_trains_exits_2_and_changes_nothing(tmp_path, references):
    run_dir, runs_dir = killed_run(tmp_path, at=150)
    marker = tmp_path / "first-resume-is-training"
    # The first resume holds still inside its third validation, the run's lock held.
    first = harness.start_child(harness.resume_argv(run_dir, runs_dir),
                                pause_at_validation(3, marker), tmp_path)
    try:
        _wait_for(marker, first)
        second = harness.run_child(harness.resume_argv(run_dir, runs_dir), None, tmp_path)
    finally:
        marker.unlink(missing_ok=True)
    finished = first.finish()
    assert second.returncode == USER_ERROR_EXIT_CODE, second.tail()
    assert "another process" in second.output, second.tail()
    assert finished.returncode == 0, finished.tail()
    assert_matches_reference(run_dir, references)


def test_a_damaged_last_checkpoint_falls_back_to_the_previous_one(tmp_path, references):
    run_dir, runs_dir = killed_run(tmp_path, at=300)
    last = run_dir / "checkpoints" / "last.pt"
    assert (run_dir / "checkpoints" / "last.prev.pt").is_file()
    data = bytearray(last.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, as a failing disk would leave it
    last.write_bytes(bytes(data))
    resumed = harness.run_child(harness.resume_argv(run_dir, runs_dir), None, tmp_path)
    assert resumed.returncode == 0, resumed.tail()
    assert "previous checkpoint" in resumed.output, resumed.tail()
    assert_matches_reference(run_dir, references)


def _wait_for(marker: Path, child: harness.RunningChild, timeout_s: float = 120.0) -> None:
    """Until the paused child made ``marker`` (or died, which fails the test)."""
    import time

    deadline = time.monotonic() + timeout_s
    while not marker.exists():
        assert child.process.poll() is None, child.finish().tail()
        assert time.monotonic() < deadline, "the first resume never reached its validation"
        time.sleep(0.05)
