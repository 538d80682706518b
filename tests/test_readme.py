"""The README's quickstart output is what `make demo` prints: the test runs the same command
and compares the text, word by word (line wrapping follows the terminal), with the run id and
the timings masked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VARYING = [(re.compile(r"\d{8}-\d{6}-"), "<id>-"), (re.compile(r"\b\d+(\.\d+)?s\b"), "<s>")]


def quickstart_output(readme: str) -> str:
    """The first code block after the quickstart's "then prints" sentence."""
    after = readme[readme.index("`make demo` shows a progress bar"):]
    return after.split("```\n", 2)[1]


def words(text: str) -> list[str]:
    for pattern, mask in VARYING:
        text = pattern.sub(mask, text)
    return text.split()


@pytest.mark.slow
@pytest.mark.integration
def test_the_readme_quickstart_prints_what_the_readme_shows(tmp_path):
    shown = quickstart_output((ROOT / "README.md").read_text())
    # `make demo` is `trainwise train examples/auto_mpg.yaml` (see the Makefile).
    assert "trainwise train examples/auto_mpg.yaml" in (ROOT / "Makefile").read_text()
    result = subprocess.run([sys.executable, "-m", "trainwise", "train",
                             str(ROOT / "examples" / "auto_mpg.yaml")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert words(result.stdout) == words(shown)
