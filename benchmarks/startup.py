"""How fast the commands that need no model answer, against ``trainwise --help``.

    .venv/bin/python benchmarks/startup.py [--repeats 7]

Trains one small run (Auto MPG, 5 epochs) into a temporary folder, then times, as whole
processes (what a user waits for), median of ``--repeats`` each, interleaved:
``trainwise --help``; ``trainwise show RUN``; ``trainwise diagnose RUN``; ``trainwise train``
of a config with a misspelt key (refused, exit 2). Prints seconds and the ratio to ``--help``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

CLI = [sys.executable, "-m", "trainwise"]


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([*CLI, *args], capture_output=True, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = folder / "runs"
        subprocess.run([*CLI, "train", "examples/auto_mpg.yaml", "--epochs", "5", "--quiet",
                        "--runs-dir", str(runs)], capture_output=True, check=True)
        run = next(path for path in runs.iterdir() if path.name[0].isdigit())
        typo = folder / "typo.yaml"
        config = yaml.safe_load(Path("examples/auto_mpg.yaml").read_text())
        config["train"]["epochz"] = config["train"].pop("epochs")
        typo.write_text(yaml.safe_dump(config))
        commands = {"--help": ["--help"],
                    "show RUN": ["show", str(run), "--runs-dir", str(runs)],
                    "diagnose RUN": ["diagnose", str(run), "--runs-dir", str(runs)],
                    "train (config typo)": ["train", str(typo), "--runs-dir", str(runs)]}
        times = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                times[name].append(timed(command))
    help_s = statistics.median(times["--help"])
    print(f"| command | median s (of {args.repeats}) | vs --help |\n| --- | ---: | ---: |")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| trainwise {name} | {median:.2f} | {median / help_s:.1f}x |")


if __name__ == "__main__":
    main()
