"""`trainwise --help` and `trainwise runs` answer without loading torch or pandas: they are
what a user types most, and importing torch alone takes seconds on a cold machine."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "pandas", "matplotlib")

PROBE = """
import sys
from trainwise.cli.main import cli
try:
    cli({args!r}, standalone_mode=False)
except SystemExit:
    pass
print("LOADED:" + ",".join(name for name in {heavy!r} if name in sys.modules))
"""


@pytest.mark.parametrize("args", [["--help"], ["runs", "--runs-dir", "{runs}"],
                                  ["sweep", "--help"], ["train", "--help"]])
def test_light_commands_import_neither_torch_nor_pandas(args, tmp_path):
    args = [arg.format(runs=tmp_path / "runs") for arg in args]
    probe = PROBE.format(args=args, heavy=HEAVY)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True)
    loaded = result.stdout.rpartition("LOADED:")[2].strip()
    assert loaded == "", f"trainwise {' '.join(args)} imported {loaded}"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    import yaml

    from tests.helpers import small_config
    from trainwise.session import fit

    folder = tmp_path_factory.mktemp("startup")
    data = folder / "rows.csv"
    data.write_text("x,y\n" + "\n".join(f"{i % 7},{i % 5}" for i in range(60)))
    run = fit(small_config(data, epochs=2), runs_dir=folder / "runs", progress=False)
    typo = folder / "typo.yaml"
    typo.write_text(yaml.safe_dump({**small_config(data), "trian": {}}))
    return run.path, folder / "runs", typo


@pytest.mark.parametrize("command", ["show", "diagnose", "typo"])
def test_commands_that_read_runs_or_refuse_a_config_do_not_load_torch(command, finished_run):
    """`show` and `diagnose` read the run's files; a config mistake is told before the
    session (and torch) loads: each answers in a fraction of a second."""
    run, runs, typo = finished_run
    args = {"show": ["show", str(run), "--runs-dir", str(runs)],
            "diagnose": ["diagnose", str(run), "--runs-dir", str(runs)],
            "typo": ["train", str(typo), "--runs-dir", str(runs)]}[command]
    probe = PROBE.format(args=args, heavy=("torch",)).replace(
        "except SystemExit:", "except (SystemExit, Exception) as error:\n    print(error)\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60)
    assert "LOADED:" in result.stdout, result.stderr[-2000:]
    loaded = result.stdout.rpartition("LOADED:")[2].strip()
    assert loaded == "", f"trainwise {' '.join(args)} imported {loaded}"
    if command == "typo":
        assert "trian" in result.stdout
