"""A plain run killed with SIGKILL at random times and at exact points (before its first
checkpoint, inside a checkpoint write, during validation, inside the final weights' write,
while its final metrics are written), and a resume killed in turn: each resumed to the end equals the uninterrupted run bit for bit
and leaves no temporary file."""

from __future__ import annotations

import pytest

from tests.faults.harness import Plan, at_begin, at_time, at_validation, at_write

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

SCENARIO = "regression"
PLANS = {
    # Seeded random moments (the windows come from the reference's timeline, harness.Timeline).
    "random_training": Plan(SCENARIO, (at_time("training", 2),)),
    # 0.5-2.5 s: imports and config, usually before the run folder exists.
    "random_startup": Plan(SCENARIO, (at_time("startup", 3),)),
    "before_first_checkpoint": Plan(SCENARIO, (at_begin(),)),
    "checkpoint_half_written": Plan(SCENARIO, (at_write(4, "partial"),)),
    # last.pt moved aside to last.prev.pt, the new one not yet renamed: no last.pt at all.
    "checkpoint_being_replaced": Plan(SCENARIO, (at_write(6, "swapped", "last.pt"),)),
    "during_validation": Plan(SCENARIO, (at_validation(250, "before"),)),
    # After the last epoch: the final weights half written, then the final metrics. (A random
    # moment of this short phase is drawn only in the long set, benchmarks/faults_long.py: on a
    # busy machine the run may end before a drawn time, and a kill that never lands would
    # make this quick set flaky.)
    "final_weights_half_written": Plan(SCENARIO, (at_write(1, "partial", "model.safetensors"),)),
    "final_metrics_half_written": Plan(SCENARIO, (at_write(1, "partial", "metrics.json"),)),
    # Killed in training, then its resume inside a checkpoint write, then the next resume
    # at a random time while it trains: three kills, one run.
    "resume_killed_twice": Plan(SCENARIO, (at_validation(120), at_write(3, "partial"),
                                           at_time("training", 4))),
}


@pytest.fixture(scope="module")
def outcomes(run_faults):
    return run_faults(PLANS)


@pytest.mark.parametrize("plan", PLANS)
def test_killed_run_resumes_bit_identical(outcomes, plan):
    outcome = outcomes[plan]
    assert outcome.ok, outcome.explain()
    assert outcome.kills_landed == len(PLANS[plan].faults)
    if outcome.started:
        assert outcome.resumable and outcome.identical and not outcome.leftover_tmp
        # Each kill was followed by a resume, unless it came after the run's status said
        # finished (plots, diagnosis): then there is nothing to resume.
        assert outcome.resumes >= len(PLANS[plan].faults) or \
            outcome.finished_unresumed == outcome.runs


def test_a_kill_at_startup_leaves_no_run_behind_or_a_resumable_one(outcomes):
    """Before the run folder exists there is nothing to resume; after, it resumed (above)."""
    outcome = outcomes["random_startup"]
    assert outcome.started == (outcome.runs > 0)
    assert not any("sweep member" in note for note in outcome.notes)


def test_a_run_killed_before_its_first_checkpoint_is_trained_again_from_epoch_0(outcomes):
    outcome = outcomes["before_first_checkpoint"]
    assert outcome.started and outcome.ok, outcome.explain()
    assert "epoch 0" in outcome.outputs[0], outcome.outputs[0][-1500:]


def test_a_kill_while_last_pt_is_replaced_resumes_from_the_previous_one(outcomes):
    outcome = outcomes["checkpoint_being_replaced"]
    assert outcome.ok, outcome.explain()
    assert "previous checkpoint" in outcome.outputs[0], outcome.outputs[0][-1500:]
