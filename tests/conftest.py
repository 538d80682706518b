"""Shared fixtures: a fixed seed, a private runs folder, and small synthetic tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from trainwise.cli.main import cli

# A throw-away PostgreSQL server for the tests that need one (skipped, with why, without it).
from tests.postgres_support import postgres_server, postgres_url  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(autouse=True)
def _restore_determinism():
    # A run with train.deterministic: true switches a global torch flag; don't leak it.
    yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


@pytest.fixture
def regression_csv(tmp_path):
    """300 rows: y = 2*x1 - x2 + (+1 if colour == 'red') + noise; a few missing x2."""
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({
        "x1": rng.normal(size=n),
        "x2": rng.normal(size=n),
        "colour": rng.choice(["red", "green", "blue"], size=n),
    })
    frame["y"] = 2 * frame.x1 - frame.x2 + (frame.colour == "red") + rng.normal(0, 0.1, n)
    frame.loc[[3, 50, 120], "x2"] = np.nan
    path = tmp_path / "regression.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def classification_csv(tmp_path):
    """300 rows, 3 classes separated by x1 and x2."""
    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    frame["label"] = np.select([frame.x1 > 0.5, frame.x2 > 0], ["a", "b"], "c")
    path = tmp_path / "classes.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def invoke():
    """Run the CLI in-process; returns click's Result (exit_code, output)."""
    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli, [str(arg) for arg in args], catch_exceptions=False)

    return run


@pytest.fixture
def workspace(tmp_path):
    """A dashboard workspace: a small classification table and configs (tests/serve_support)."""
    from tests.serve_support import make_workspace

    return make_workspace(tmp_path)


@pytest.fixture
def server(workspace):
    """A real `trainwise serve` on a free port over ``workspace``, stopped afterwards."""
    from tests.serve_support import LiveServer, serve_settings

    with LiveServer(serve_settings(workspace)) as live:
        yield live
