"""Batched trials against sequential ones: the same trials, asked K at once by ``trainwise
tune --batch K`` and trained as one batched model, or one after another.

    .venv/bin/python benchmarks/tune_batched.py [--epochs 100] [--repeats 2]
                                                [--out benchmarks/results]

Eight fixed trials (train.lr in {0.03, 0.01, 0.003, 0.001} x train.weight_decay in {0, 0.01},
enqueued into the study so both arms train the same points), Auto MPG, Dense 64-64-1,
batch 32, early stopping and pruning off. Each repeat runs both arms, in alternating order,
each in a fresh runs folder and SQLite study. Reports the wall time of ``tune`` (median) and
whether every trial's value agrees between the arms; writes ``tune_batched.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

POINTS = [{"train.lr": lr, "train.weight_decay": decay}
          for lr, decay in itertools.product([0.03, 0.01, 0.003, 0.001], [0.0, 0.01])]


def config(epochs: int) -> dict:
    return {"name": "bench", "data": {"source": "auto_mpg", "target": "mpg",
                                      "drop": ["car_name"], "categorical": ["origin"]},
            "model": {"hidden": [64, 64]},
            "train": {"epochs": epochs, "batch_size": 32, "lr": 0.001,
                      "early_stopping": {"enabled": False}},
            "tune": {"space": {"train.lr": {"low": 1e-4, "high": 1e-1, "log": True},
                               "train.weight_decay": {"low": 0.0, "high": 0.1}},
                     "trials": len(POINTS), "pruner": "none"}}


def run_arm(batch: int, epochs: int, folder: Path) -> tuple[float, list[float]]:
    import optuna

    from trainwise.tune import tune

    runs = folder / f"runs-{batch}"
    runs.mkdir()
    study = optuna.create_study(study_name="bench", storage=f"sqlite:///{runs / 'tune.db'}")
    for point in POINTS:
        study.enqueue_trial(point)
    started = time.perf_counter()
    result = tune(config(epochs), runs_dir=runs, progress=False, batch=batch)
    seconds = time.perf_counter() - started
    return seconds, [float(value) for value in result.table.sort_values("trial")["value"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    arms = {"batched (--batch 8)": len(POINTS), "sequential (--batch 1)": 1}
    times = {name: [] for name in arms}
    values = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            order = list(arms.items()) if repeat % 2 == 0 else list(reversed(arms.items()))
            for name, batch in order:
                folder = Path(tmp) / f"{repeat}-{batch}"
                folder.mkdir()
                seconds, values[name] = run_arm(batch, args.epochs, folder)
                times[name].append(seconds)
    batched, sequential = values.values()
    worst = max(abs(a - b) / abs(b) for a, b in zip(batched, sequential))
    median = {name: statistics.median(seconds) for name, seconds in times.items()}
    lines = [f"# Batched trials: 8 trials of Auto MPG, Dense 64-64-1, {args.epochs} epochs", "",
             f"{platform.machine()}, median of {args.repeats} (alternating order)", "",
             "| arm | wall s | vs sequential |", "| --- | ---: | ---: |"]
    for name, seconds in median.items():
        lines.append(f"| {name} | {seconds:.2f} | "
                     f"{median['sequential (--batch 1)'] / seconds:.2f}x |")
    differences = [abs(a - b) / abs(b) for a, b in zip(batched, sequential)]
    close = sum(difference <= 1e-5 for difference in differences)
    largest = max(range(len(POINTS)), key=differences.__getitem__)
    lines += ["", f"Trial values (best val_loss) equal within 1e-5 (relative) in {close} of "
              f"{len(POINTS)} trials; the largest difference, {worst:.2e}, at "
              f"{POINTS[largest]} (float rounding grows fastest at the highest rates)."]
    table = "\n".join(lines)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tune_batched.md").write_text(table + "\n")
    (args.out / "tune_batched.json").write_text(json.dumps(
        {"settings": {"epochs": args.epochs, "repeats": args.repeats}, "times": times,
         "values": values, "max_relative_difference": worst}, indent=2))


if __name__ == "__main__":
    main()
