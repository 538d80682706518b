"""The shipped examples reach what their headers promise, and reproduce exactly. Minutes of
training: marked ``examples`` (excluded by default; CI runs ``pytest -m examples``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import comparable_history
from trainwise.session import fit

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = [pytest.mark.examples, pytest.mark.timeout(1800)]


def test_the_digits_cnn_reaches_97_percent_test_accuracy_twice_the_same(tmp_path):
    first = fit(EXAMPLES / "digits.yaml", runs_dir=tmp_path / "a", progress=False)
    second = fit(EXAMPLES / "digits.yaml", runs_dir=tmp_path / "b", progress=False)
    assert first.metrics["test"]["accuracy"] >= 0.97, first.metrics["test"]["accuracy"]
    assert second.metrics == first.metrics
    assert comparable_history(second) == comparable_history(first)
