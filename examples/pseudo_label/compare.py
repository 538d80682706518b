"""Pseudo-labelling against the labelled rows alone, on digits with 10 % of the labels.

Usage:
    python examples/pseudo_label/compare.py [--seeds 0 1 2 3 4] [--runs-dir runs]
        [KEY=VALUE ...]

For each seed: writes the seed's tables (make_data.py: its own split and its own labelled
rows) to data/seed<N>/, trains digits_labelled_only.yaml and digits_pseudo.yaml on them with
train.seed = N, and prints both test accuracies; then the mean and standard deviation over
the seeds. KEY=VALUE overrides apply to both configs (e.g. model.hidden=[256]).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import trainwise
from make_data import split_tables, write_tables

HERE = Path(__file__).parent
CONFIGS = {"labelled only": HERE / "digits_labelled_only.yaml",
           "pseudo-labelling": HERE / "digits_pseudo.yaml"}


def run_seed(seed: int, runs_dir: Path, overrides: list[str]) -> dict[str, dict]:
    """Train both configs on one seed's tables.

    Returns:
        Method name -> ``{"accuracy", "epochs", "pseudo_labelled"}`` (the last two from the
        history: epochs run, and pseudo-labelled rows in the last epoch).
    """
    folder = HERE / "data" / f"seed{seed}"
    write_tables(split_tables(seed, labelled=0.1), folder)
    files = [f"data.source={folder / 'train.csv'}",
             f"data.split.val_file={folder / 'val.csv'}",
             f"data.split.test_file={folder / 'test.csv'}",
             f"train.seed={seed}"]
    results = {}
    for method, config in CONFIGS.items():
        run = trainwise.fit(config, files + overrides, runs_dir=runs_dir, progress=False)
        results[method] = {"accuracy": run.metrics["test"]["accuracy"],
                           "epochs": len(run.history),
                           "pseudo_labelled": run.history[-1].get("pseudo_labelled", 0)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE for both configs")
    args = parser.parse_args()
    scores = {method: [] for method in CONFIGS}
    for seed in args.seeds:
        results = run_seed(seed, args.runs_dir, args.overrides)
        for method, result in results.items():
            scores[method].append(result["accuracy"])
        print(f"seed {seed}: " + "  ".join(
            f"{method} {r['accuracy']:.4f} ({r['epochs']} epochs"
            + (f", {r['pseudo_labelled']} pseudo rows)" if r["pseudo_labelled"] else ")")
            for method, r in results.items()), flush=True)
    for method, values in scores.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{method:>16}: test accuracy {statistics.mean(values):.4f} ± {spread:.4f} "
              f"over seeds {' '.join(map(str, args.seeds))}")


if __name__ == "__main__":
    main()
