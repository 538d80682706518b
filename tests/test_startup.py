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
