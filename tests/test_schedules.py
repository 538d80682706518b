"""Learning-rate schedules: values at given steps and epochs, when they step, exact resume."""

from __future__ import annotations

import csv
import math

import pytest
import torch

import trainwise
from trainwise.config import load_config
from trainwise.config.schema import TrainConfig
from trainwise.errors import UserError
from trainwise.training.schedules import build_schedule, optimizer_steps_per_epoch
from tests.helpers import InterruptAtStep, assert_same_run, comparable_history, small_config


def _batch_rows(run) -> list[dict]:
    with open(run.path / "batch_history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _cosine(progress: float, floor: float = 0.0) -> float:
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def _rates(scheduler: dict, epochs: int, steps_per_epoch: int, lr: float = 1.0,
           val_losses=None, optimizer: str = "sgd", momentum: float = 0.0,
           monitor="val_loss", mode="min", param_group_lrs=(1.0,)) -> dict:
    """Drive a schedule as the Trainer does; the rate of every step and of every epoch."""
    train = TrainConfig(lr=lr, epochs=epochs, optimizer=optimizer, momentum=momentum,
                        scheduler=scheduler)
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr * share}
              for share in param_group_lrs]
    opt = torch.optim.SGD(groups, lr=lr, momentum=momentum)
    schedule = build_schedule(opt, train, steps_per_epoch, monitor, mode)
    steps, per_epoch, momenta, group_rates = [], [], [], []
    for epoch in range(epochs):
        per_epoch.append(opt.param_groups[0]["lr"])
        for _ in range(steps_per_epoch):
            steps.append(opt.param_groups[0]["lr"])
            momenta.append(opt.param_groups[0]["momentum"])
            group_rates.append([group["lr"] for group in opt.param_groups])
            opt.step()
            schedule.after_step()
        value = val_losses[epoch] if val_losses else 1.0
        schedule.after_epoch({"epoch": epoch + 1, monitor: value})
    return {"steps": steps, "epochs": per_epoch, "momenta": momenta, "groups": group_rates,
            "per_step": schedule.per_step}


# ----------------------------------------------------------------------------- epoch schedules
EPOCH_CASES = {
    "step": ({"name": "step", "step_size": 2, "gamma": 0.5}, [1, 1, 0.5, 0.5, 0.25]),
    "multistep": ({"name": "multistep", "milestones": [1, 3], "gamma": 0.1},
                  [1, 0.1, 0.1, 0.01, 0.01]),
    "exponential": ({"name": "exponential", "gamma": 0.5}, [1, 0.5, 0.25, 0.125, 0.0625]),
    "cosine": ({"name": "cosine", "t_max": 4},
               [1, _cosine(1 / 4), 0.5, _cosine(3 / 4), 0.0]),
    "cosine_floor": ({"name": "cosine", "t_max": 4, "min_lr": 0.2},
                     [1, 0.2 + 0.8 * _cosine(1 / 4), 0.6, 0.2 + 0.8 * _cosine(3 / 4), 0.2]),
}


@pytest.mark.parametrize("scheduler, expected", EPOCH_CASES.values(), ids=EPOCH_CASES.keys())
def test_epoch_schedules_hold_the_rate_within_an_epoch(scheduler, expected):
    rates = _rates(scheduler, epochs=5, steps_per_epoch=3)
    assert not rates["per_step"]
    assert rates["epochs"] == pytest.approx(expected, abs=1e-12)
    assert rates["steps"] == pytest.approx([rate for rate in expected for _ in range(3)])


def test_plateau_decays_after_patience_epochs_without_improvement():
    # Best at epoch 1; epochs 2 and 3 do not improve: with patience 1 the second one decays.
    rates = _rates({"name": "plateau", "patience": 1, "factor": 0.5}, epochs=5,
                   steps_per_epoch=2, val_losses=[1.0, 1.0, 1.0, 1.0, 1.0])
    assert rates["epochs"] == [1, 1, 1, 0.5, 0.5]


def test_plateau_on_an_accuracy_watches_for_a_rise():
    rising = [0.5, 0.6, 0.7, 0.8, 0.9]
    kept = _rates({"name": "plateau", "patience": 0, "factor": 0.5}, epochs=5, steps_per_epoch=1,
                  val_losses=rising, monitor="val_accuracy", mode="max")
    assert kept["epochs"] == [1] * 5


# ----------------------------------------------------------------------------- step schedules
def test_linear_warmup_reaches_the_base_rate_then_holds_it():
    by_steps = _rates({"name": "warmup", "warmup_steps": 4}, epochs=2, steps_per_epoch=3)
    assert by_steps["per_step"]
    assert by_steps["steps"] == pytest.approx([0.25, 0.5, 0.75, 1, 1, 1])
    by_epochs = _rates({"name": "warmup", "warmup_epochs": 1.0}, epochs=2, steps_per_epoch=4)
    assert by_epochs["steps"] == pytest.approx([0.25, 0.5, 0.75, 1, 1, 1, 1, 1])


def test_warmup_cosine_rises_linearly_then_follows_a_cosine_to_min_lr():
    # 2 epochs x 3 steps = 6 steps; 2 of warmup, then a cosine over the other 4.
    rates = _rates({"name": "warmup_cosine", "warmup_steps": 2, "min_lr": 0.1},
                   epochs=2, steps_per_epoch=3)
    cos = [0.1 + 0.9 * _cosine(k / 4) for k in range(4)]
    assert rates["steps"] == pytest.approx([0.5, 1.0, *cos])
    assert rates["epochs"] == pytest.approx([0.5, cos[1]])  # each epoch's first step


def test_cyclic_triangular_modes():
    # base 0.1, max 1.0, 2 steps up and 2 down.
    triangular = _rates({"name": "cyclic", "base_lr": 0.1, "max_lr": 1.0, "step_size_up": 2},
                        epochs=3, steps_per_epoch=3)
    assert triangular["per_step"]
    assert triangular["steps"] == pytest.approx([0.1, 0.55, 1.0, 0.55, 0.1, 0.55, 1.0, 0.55, 0.1])
    halving = _rates({"name": "cyclic", "base_lr": 0.1, "max_lr": 1.0, "step_size_up": 2,
                      "cycle_mode": "triangular2"}, epochs=3, steps_per_epoch=3)
    assert halving["steps"] == pytest.approx([0.1, 0.55, 1.0, 0.55, 0.1, 0.325, 0.55, 0.325, 0.1])
    shrinking = _rates({"name": "cyclic", "base_lr": 0.1, "max_lr": 1.0, "step_size_up": 2,
                        "cycle_mode": "exp_range", "cycle_gamma": 0.5}, epochs=2, steps_per_epoch=2)
    # The triangle's height at step t, times gamma ** t.
    assert shrinking["steps"] == pytest.approx([0.1, 0.1 + 0.9 * 0.5 * 0.5,
                                                0.1 + 0.9 * 1.0 * 0.25, 0.1 + 0.9 * 0.5 * 0.125])


def test_cyclic_defaults_to_train_lr_and_two_epochs_up():
    rates = _rates({"name": "cyclic", "max_lr": 0.5}, lr=0.1, epochs=4, steps_per_epoch=2)
    # 4 steps up (2 epochs of 2 steps), 4 down.
    assert rates["steps"] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.4, 0.3, 0.2])


def test_one_cycle_rises_to_max_lr_then_anneals_to_its_floor():
    # 10 steps, pct_start 0.3: up over steps 0..2, down over 2..9 (torch's phase ends).
    rates = _rates({"name": "one_cycle", "max_lr": 1.0}, lr=0.01, epochs=2, steps_per_epoch=5)
    start, floor = 1.0 / 25, 1.0 / 25 / 1e4
    up = [start, 1.0 + (start - 1.0) * 0.5 * (1 + math.cos(math.pi / 2)), 1.0]
    down = [floor + (1.0 - floor) * _cosine(k / 7) for k in range(1, 8)]
    assert rates["steps"] == pytest.approx([*up, *down], rel=1e-9)
    assert rates["steps"][-1] == pytest.approx(floor)


def test_one_cycle_holds_its_floor_past_its_horizon():
    # t_max 2 epochs of a 4-epoch run (as after `resume --epochs 4`): no error, the floor holds.
    rates = _rates({"name": "one_cycle", "t_max": 2}, lr=1.0, epochs=4, steps_per_epoch=5)
    floor = 1.0 / 25 / 1e4
    assert rates["steps"][9:] == pytest.approx([floor] * 11)


def test_one_cycle_can_cycle_sgd_momentum_inversely():
    rates = _rates({"name": "one_cycle", "cycle_momentum": True, "base_momentum": 0.8},
                   lr=1.0, epochs=2, steps_per_epoch=5, momentum=0.95)
    assert rates["momenta"][0] == pytest.approx(0.95)  # low rate, high momentum
    assert rates["momenta"][2] == pytest.approx(0.8)  # the peak rate
    off = _rates({"name": "one_cycle"}, lr=1.0, epochs=2, steps_per_epoch=5, momentum=0.9)
    assert set(off["momenta"]) == {0.9}  # untouched unless asked


def test_step_schedules_keep_parameter_groups_in_proportion():
    rates = _rates({"name": "one_cycle", "max_lr": 2.0}, lr=1.0, epochs=1, steps_per_epoch=5,
                   param_group_lrs=(1.0, 0.1))
    for first, second in rates["groups"]:
        assert second == pytest.approx(first * 0.1)


def test_steps_per_epoch_count_a_short_last_group():
    assert optimizer_steps_per_epoch(12, 1) == 12
    assert optimizer_steps_per_epoch(12, 4) == 3
    assert optimizer_steps_per_epoch(13, 4) == 4


# ----------------------------------------------------------------------------- config errors
MINIMAL = {"data": {"source": "auto_mpg", "target": "mpg"}}
BAD_SCHEDULES = {
    "warmup_without_length": ({"name": "warmup"}, "warmup_epochs or warmup_steps"),
    "warmup_with_both": ({"name": "warmup_cosine", "warmup_steps": 5, "warmup_epochs": 1},
                         "exactly one of"),
    "cyclic_without_max": ({"name": "cyclic"}, "needs max_lr"),
    "cyclic_max_below_base": ({"name": "cyclic", "max_lr": 0.0005}, "must be above"),
    "warmup_longer_than_run": ({"name": "warmup_cosine", "warmup_epochs": 200},
                               "warmup_epochs (200.0) leaves no epochs"),
    "momentum_cycle_on_adam": ({"name": "one_cycle", "cycle_momentum": True},
                               "cycle_momentum needs optimizer sgd or rmsprop"),
    "unknown_mode": ({"name": "cyclic", "max_lr": 0.1, "cycle_mode": "sine"}, "cycle_mode"),
    "unknown_name": ({"name": "onecycle"}, "unknown scheduler 'onecycle'"),
}


@pytest.mark.parametrize("scheduler, message", BAD_SCHEDULES.values(), ids=BAD_SCHEDULES.keys())
def test_bad_schedules_are_explained(scheduler, message):
    with pytest.raises(UserError, match="scheduler") as caught:
        load_config({**MINIMAL, "train": {"scheduler": scheduler}})
    assert message in str(caught.value)


def test_momentum_cycle_needs_momentum_above_its_low():
    with pytest.raises(UserError, match="set momentum above base_momentum"):
        load_config({**MINIMAL, "train": {"optimizer": "sgd", "momentum": 0.5, "scheduler": {
            "name": "cyclic", "max_lr": 0.1, "cycle_momentum": True}}})


# ----------------------------------------------------------------------------- in a run
def test_step_schedules_step_every_optimizer_step_and_log_each_rate(regression_csv, runs_dir):
    # 180 training rows in batches of 32: 6 steps per epoch; warmup over the first 9.
    config = small_config(regression_csv, epochs=3,
                          scheduler={"name": "warmup", "warmup_steps": 9})
    run = trainwise.fit(config, runs_dir=runs_dir, progress=False, plots=True)
    rates = [float(row["lr"]) for row in _batch_rows(run)]
    assert rates == pytest.approx([0.01 * min(step / 9, 1) for step in range(1, 19)])
    # The history's lr is the rate of each epoch's first step.
    assert [record["lr"] for record in run.history] == pytest.approx([rates[0], rates[6],
                                                                      rates[12]])
    assert (run.path / "plots" / "lr.png").is_file()  # drawn from the per-step rates


def test_rate_plot_is_drawn_when_the_rate_moves_within_the_only_epoch(regression_csv,
                                                                      runs_dir):
    # One epoch: the history holds one rate, but the step schedule moved it every step.
    config = small_config(regression_csv, epochs=1,
                          scheduler={"name": "warmup", "warmup_steps": 9})
    run = trainwise.fit(config, runs_dir=runs_dir, progress=False, plots=True)
    assert len(run.history) == 1
    assert (run.path / "plots" / "lr.png").is_file()


def test_epoch_schedules_leave_batch_rows_without_a_rate(regression_csv, runs_dir):
    config = small_config(regression_csv, epochs=2, scheduler={"name": "step", "step_size": 1})
    run = trainwise.fit(config, runs_dir=runs_dir, progress=False, plots=True)
    assert "lr" not in _batch_rows(run)[0]
    assert [record["lr"] for record in run.history] == pytest.approx([0.01, 0.001])
    assert (run.path / "plots" / "lr.png").is_file()  # the rate moved between epochs


RESUME_SCHEDULES = {
    "one_cycle": {"name": "one_cycle", "max_lr": 0.05, "t_max": 20},
    "warmup_cosine": {"name": "warmup_cosine", "warmup_epochs": 2, "t_max": 20, "min_lr": 1e-4},
}


@pytest.mark.parametrize("scheduler", RESUME_SCHEDULES.values(), ids=RESUME_SCHEDULES.keys())
def test_ten_plus_ten_equals_twenty_with_a_step_schedule(regression_csv, runs_dir, scheduler):
    # t_max: the first half's own horizon would otherwise be its 10 epochs (see docs/design.md).
    config = small_config(regression_csv, epochs=20, batch_size=16, scheduler=scheduler)
    config["model"]["dropout"] = 0.2
    straight = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    first_half = trainwise.fit(config, {"train.epochs": 10}, runs_dir=runs_dir, progress=False)
    resumed = trainwise.resume(first_half.path, epochs=20, runs_dir=runs_dir, progress=False)

    assert _batch_rows(resumed) == _batch_rows(straight)  # every step's rate too
    assert_same_run(straight, resumed)


def test_interrupt_mid_epoch_with_a_cyclic_schedule_resumes_exactly(regression_csv, runs_dir):
    config = small_config(regression_csv, epochs=5, batch_size=16,
                          scheduler={"name": "cyclic", "max_lr": 0.05, "step_size_up": 7})
    straight = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    interrupted = trainwise.fit(config, runs_dir=runs_dir, progress=False,
                                callbacks=[InterruptAtStep(30)])
    resumed = trainwise.resume(interrupted.path, runs_dir=runs_dir, progress=False)
    assert comparable_history(resumed) == comparable_history(straight)
    assert _batch_rows(resumed) == _batch_rows(straight)
