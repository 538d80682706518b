"""Kills of the probabilistic task, of a CNN on images with augmentation, and of sweeps
(sequential and batched), and of their resumes. A sequential member resumes bit-identical to the uninterrupted sweep's member; a
batched member is exact up to the epoch the batched process checkpointed and then equals a
clean resume of that checkpoint bit for bit (why not more: tests/faults/harness.py)."""

from __future__ import annotations

import pytest

from tests.faults.harness import Plan, at_time, at_validation, at_write

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

PLANS = {
    # Killed while last.pt is being replaced, then the resume killed while it trains.
    "probabilistic": Plan("probabilistic", (at_write(5, "swapped", "last.pt"),
                                            at_time("training", 5))),
    # 300 epochs a member: validation 400 is the second member's 100th epoch.
    "sweep_sequential": Plan("sweep_sequential", (at_validation(400),)),
    # The batched sweep killed inside a checkpoint write, then a member's resume killed.
    "sweep_batched": Plan("sweep_batched", (at_write(9, "partial"), at_validation(60))),
    # A CNN on images with augmentation: killed after an epoch's batches, before its
    # validation (in the middle of the epoch as far as any checkpoint knows), then the
    # resume killed at a random moment of training.
    "images_augmented": Plan("images_augmented", (at_validation(5, "before"),
                                                  at_time("training", 2))),
    # A UNet on random raster chips with augmentation: killed before a validation, then
    # the resume killed after its 12th validation (a moment drawn from the reference's
    # training could fall after a fast machine's shorter resume had already finished).
    "segmentation": Plan("segmentation", (at_validation(10, "before"),
                                          at_validation(12))),
}


@pytest.fixture(scope="module")
def outcomes(run_faults):
    return run_faults(PLANS)


@pytest.mark.parametrize("plan", PLANS)
def test_killed_run_resumes_as_promised(outcomes, plan):
    outcome = outcomes[plan]
    assert outcome.ok, outcome.explain()
    assert outcome.started and outcome.resumable and outcome.identical
    assert outcome.kills_landed == len(PLANS[plan].faults)
    assert not outcome.leftover_tmp


def test_a_sequential_sweep_killed_in_its_second_member_leaves_both_to_compare(outcomes):
    """The first member had finished, the second is resumed: both equal the reference's."""
    assert outcomes["sweep_sequential"].runs == 2


def test_every_batched_member_is_resumed_and_checked(outcomes):
    outcome = outcomes["sweep_batched"]
    assert outcome.runs == 2
    assert sum("resumed alone after batched epoch" in note for note in outcome.notes) == 2
