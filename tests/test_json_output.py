"""`trainwise runs --format json` and `trainwise show RUN --format json`: what the tables
show, as JSON a script can parse."""

from __future__ import annotations

import json

from click.testing import CliRunner

import trainwise
from tests.helpers import small_config
from trainwise.cli.main import cli


def _json(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_runs_and_show_print_json(regression_csv, runs_dir):
    run = trainwise.fit(small_config(regression_csv, epochs=3), runs_dir=runs_dir,
                        progress=False)

    listed = _json("runs", "--runs-dir", str(runs_dir), "--format", "json")
    assert [(r["id"], r["name"], r["status"], r["epochs"]) for r in listed] == [
        (run.id, "test", "finished", 3)]
    shown = _json("show", run.id, "--runs-dir", str(runs_dir), "--format", "json")
    assert shown["config"]["train"]["epochs"] == 3
    assert shown["status"]["status"] == "finished"
    assert shown["metrics"] == run.metrics
    assert shown["history"]["epochs"] == 3 and shown["history"]["last"] == run.history[-1]
    assert isinstance(shown["findings"], list)


def test_runs_json_of_an_empty_folder_is_an_empty_array(runs_dir):
    assert _json("runs", "--runs-dir", str(runs_dir), "--format", "json") == []
