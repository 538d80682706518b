"""Train every imbalance config over several seeds and print the comparison table.

Each seed is both the split seed and the training seed, so every seed is a different split:
the mean over seeds evens out which 2-3 malignant rows land in the test split. Metrics are
the test split's (never used for training or stopping).

Run: python examples/imbalance/benchmark.py [--seeds 0 1 2 3 4] [--runs-dir DIR] [CONFIG ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import trainwise

HERE = Path(__file__).resolve().parent
METHODS = ("plain", "class_weights", "focal", "focal_weighted", "dice", "tversky", "topk",
           "oversample", "undersample", "smote")
MINORITY = "malignant"
COLUMNS = ("balanced accuracy", "macro-F1", f"{MINORITY} recall", "PR-AUC (macro)",
           f"{MINORITY} AP")


def test_scores(run) -> tuple[float, ...]:
    """The table's columns for one run, from its test metrics."""
    test = run.metrics["test"]
    minority = test["per_class"][MINORITY]
    return (test["balanced_accuracy"], test["macro_f1"], minority["recall"], test["pr_auc"],
            minority["average_precision"])


def benchmark(configs: list[Path], seeds: list[int], runs_dir: Path) -> list[tuple]:
    """``(config name, per-seed score tuples)`` for each config."""
    results = []
    for config in configs:
        scores = [test_scores(trainwise.fit(config, {"train.seed": seed}, runs_dir=runs_dir,
                                            progress=False))
                  for seed in seeds]
        results.append((config.stem, scores))
        print(f"{config.stem}: done", flush=True)
    return results


def markdown_table(results: list[tuple], seeds: list[int]) -> str:
    """Mean ± standard deviation over the seeds, one row per config."""
    lines = [f"| method | {' | '.join(COLUMNS)} |", "| --- |" + " --- |" * len(COLUMNS)]
    for name, scores in results:
        cells = []
        for column in zip(*scores):
            spread = statistics.stdev(column) if len(column) > 1 else 0.0
            cells.append(f"{statistics.mean(column):.3f} ± {spread:.3f}")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines.append(f"\nMean ± standard deviation over seeds {', '.join(map(str, seeds))}.")
    return "\n".join(lines)


def per_seed_table(results: list[tuple], seeds: list[int]) -> str:
    """Balanced accuracy per seed: how much of a difference is the split's luck."""
    lines = [f"| method | {' | '.join(f'seed {seed}' for seed in seeds)} |",
             "| --- |" + " --- |" * len(seeds)]
    for name, scores in results:
        lines.append(f"| {name} | {' | '.join(f'{score[0]:.3f}' for score in scores)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", type=Path,
                        default=[HERE / f"{name}.yaml" for name in METHODS])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        results = benchmark(args.configs, args.seeds, args.runs_dir or Path(scratch))
    print(markdown_table(results, args.seeds))
    print("\nBalanced accuracy per seed:\n")
    print(per_seed_table(results, args.seeds))


if __name__ == "__main__":
    main()
