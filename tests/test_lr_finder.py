"""The LR range test: suggestions from curves, state restored, train.lr: auto."""

from __future__ import annotations

import math

import numpy as np
import pytest

import trainwise
from trainwise.training.lr_finder import choose_learning_rate, suggest_learning_rates
from tests.helpers import assert_same_run, small_config

LRS = list(np.logspace(-7, 1, 100))


def textbook_curve() -> list[float]:
    """Flat at 1.0, falls (fastest around 1e-3) to 0.2 near 1e-2, then blows up."""
    log_lr = np.log10(LRS)
    falling = 0.2 + 0.8 / (1 + np.exp(3 * (log_lr + 3)))
    return list(np.where(log_lr < -1.5, falling, 0.2 + 5 * (log_lr + 1.5) ** 2))


def test_suggestions_on_a_textbook_curve():
    suggestions, problem = suggest_learning_rates(LRS, textbook_curve())
    assert problem is None
    assert 3e-4 < suggestions["steepest"] < 3e-3  # the inflection is at 1e-3
    lowest = LRS[int(np.argmin(textbook_curve()))]
    assert suggestions["min_over_10"] == pytest.approx(lowest / 10)
    # The valley is two thirds into the longest falling run: inside the descent, before the minimum.
    assert 1e-4 < suggestions["valley"] < lowest


def test_non_finite_points_are_ignored():
    curve = textbook_curve()
    polluted = list(curve)
    polluted[10] = math.nan
    polluted[-5:] = [math.inf] * 5
    clean, _ = suggest_learning_rates(LRS, curve)
    dirty, problem = suggest_learning_rates(LRS, polluted)
    assert problem is None
    assert dirty["steepest"] == pytest.approx(clean["steepest"], rel=0.2)


def test_a_curve_without_descent_gets_no_suggestion_and_says_why():
    rng = np.random.default_rng(0)
    noisy_flat = list(1.0 + 0.02 * rng.standard_normal(100))
    result = choose_learning_rate(LRS, noisy_flat, noisy_flat)
    assert result.chosen is None
    assert "no clear descent" in result.reason


def test_a_curve_that_diverges_at_once_says_so():
    result = choose_learning_rate(LRS[:4], [1.0, 2.0, 8.0, math.nan], [1.0, 1.5, 3.0, math.nan])
    assert result.chosen is None and "diverged almost at once" in result.reason


def test_lr_find_restores_the_model_and_chooses(regression_csv, runs_dir, invoke, tmp_path):
    import yaml

    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(small_config(regression_csv)))
    result = invoke("lr-find", config, "--runs-dir", runs_dir, "--output", tmp_path / "lr.png")
    assert result.exit_code == 0, result.output
    assert "valley" in result.output and "steepest" in result.output
    assert (tmp_path / "lr.png").stat().st_size > 0
    assert not runs_dir.exists() or not any(p.is_dir() for p in runs_dir.iterdir())


def test_train_lr_auto_equals_training_with_the_chosen_rate(regression_csv, runs_dir):
    auto = trainwise.fit(small_config(regression_csv, epochs=4, lr="auto"), runs_dir=runs_dir,
                         progress=False)
    finder = auto.run_dir.read_json("lr_finder.json")
    assert finder["chosen"] == auto.config.train.lr and finder["rule"] == "valley"
    assert "valley" in finder["reason"] and (auto.path / "plots" / "lr_finder.png").is_file()
    fixed = trainwise.fit(small_config(regression_csv, epochs=4, lr=finder["chosen"]),
                          runs_dir=runs_dir, progress=False)
    # The test put the model, optimizer and RNG back: the run is the same as a fixed rate.
    assert_same_run(fixed, auto)


def test_lr_finder_range_is_validated():
    from trainwise.config import load_config
    from trainwise.errors import UserError

    with pytest.raises(UserError, match="end_lr"):
        load_config({"data": {"source": "x.csv", "target": "y"},
                     "train": {"lr_finder": {"start_lr": 1.0, "end_lr": 0.1}}})
