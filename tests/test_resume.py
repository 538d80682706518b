"""Exact resume: N epochs, then resume to M, equals M epochs straight — bit for bit on CPU."""

from __future__ import annotations

import pytest

import trainwise
from tests.helpers import InterruptAtStep, assert_same_run, comparable_history, small_config

RESUME_CASES = {
    "plain": {},
    "step_scheduler_dropout": {"scheduler": {"name": "step", "step_size": 3, "gamma": 0.5}},
    "plateau_scheduler": {"scheduler": {"name": "plateau", "patience": 1, "factor": 0.5}},
    "early_stopping_state": {"early_stopping": {"patience": 3, "min_delta": 0.001}},
    "sgd_nesterov": {"optimizer": "sgd", "momentum": 0.9, "nesterov": True},
}


@pytest.mark.parametrize("train", RESUME_CASES.values(), ids=RESUME_CASES.keys())
def test_ten_plus_ten_equals_twenty(regression_csv, runs_dir, train):
    config = small_config(regression_csv, epochs=20, batch_size=16, **train)
    config["model"]["dropout"] = 0.2  # dropout consumes the RNG: its state must come back too
    straight = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    first_half = trainwise.fit(config, {"train.epochs": 10}, runs_dir=runs_dir, progress=False)
    resumed = trainwise.resume(first_half.path, epochs=20, runs_dir=runs_dir, progress=False)

    assert_same_run(straight, resumed)
    assert resumed.status["stop_reason"] == straight.status["stop_reason"]


def test_resume_keeps_the_learning_rate(regression_csv, runs_dir):
    config = small_config(regression_csv, epochs=6,
                          scheduler={"name": "exponential", "gamma": 0.5})
    first = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    resumed = trainwise.resume(first.path, epochs=8, runs_dir=runs_dir, progress=False)
    lrs = [record["lr"] for record in resumed.history]
    assert lrs == pytest.approx([0.01 * 0.5 ** epoch for epoch in range(8)])



def test_interrupt_mid_epoch_then_resume_equals_straight(regression_csv, runs_dir):
    config = small_config(regression_csv, epochs=6, batch_size=16)
    straight = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    # 300 rows * 0.6 = 180 training rows = 12 batches per epoch; step 30 is inside epoch 3.
    interrupted = trainwise.fit(config, runs_dir=runs_dir, progress=False,
                                callbacks=[InterruptAtStep(30)])
    assert interrupted.status["status"] == "stopped"
    assert interrupted.status["global_step"] == 30
    assert len(interrupted.history) == 2
    resumed = trainwise.resume(interrupted.path, runs_dir=runs_dir, progress=False)
    assert resumed.status["status"] == "finished"
    assert comparable_history(resumed) == comparable_history(straight)


def test_resume_an_interrupted_run_in_the_store(regression_csv, runs_dir):
    from trainwise.tracking import RunStore

    config = small_config(regression_csv, epochs=4)
    interrupted = trainwise.fit(config, runs_dir=runs_dir, progress=False,
                                callbacks=[InterruptAtStep(8)])
    store = RunStore(runs_dir / "trainwise.db")
    assert store.get_run(interrupted.id)["status"] == "stopped"
    trainwise.resume(interrupted.id, runs_dir=runs_dir, progress=False)
    row = store.get_run(interrupted.id)
    assert row["status"] == "finished"
    assert [record["epoch"] for record in store.history(interrupted.id)] == [1, 2, 3, 4]
