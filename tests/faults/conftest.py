"""Fixtures of the fault suite: references trained once per session, and plans run two at a time.

Each test module marks itself ``faults`` (excluded by default; ``pytest -m faults
tests/faults``) and raises the per-test timeout: a module's plans run together in its first
test's fixture, which takes minutes on a slow machine.
"""

from __future__ import annotations

import pytest

from tests.faults import harness


@pytest.fixture(scope="session")
def references(tmp_path_factory) -> harness.References:
    """Each scenario's uninterrupted reference run, trained on first use."""
    return harness.References(tmp_path_factory.mktemp("references"))


@pytest.fixture(scope="session")
def run_faults(references, tmp_path_factory):
    """A function that runs plans two at a time and returns their outcomes by plan id."""
    def run(plans: dict[str, harness.Plan], workers: int = 2) -> dict[str, harness.Outcome]:
        folder = tmp_path_factory.mktemp("plans")
        return dict(zip(plans, harness.run_plans(list(plans.values()), references, folder,
                                                 workers)))

    return run
