"""Record the labelled curves the diagnosis is checked against: real runs of every example,
and each fit regime produced on more than one table.

Each case is labelled by how it was made, not by what the diagnosis says: a one-unit
bottleneck on a regression table is under-fitting whatever the detectors make of its curves.
A recording keeps the run's history and the facts the diagnosis reads beside it (baselines,
split sizes, regularisers); the labels stay here, with the cases. So
`tests/test_labelled_curves.py` checks every verdict in a fraction of a second without
training. Re-record after a change to training that moves the curves:

    python -m tests.labelled_curves.record            # every case (several minutes)
    python -m tests.labelled_curves.record wine-overfit auto_mpg-underfit
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent.parent / "examples"

TABLES = {  # the tables the regimes are produced on, as a new user would configure them
    "auto_mpg": {"source": "auto_mpg", "target": "mpg", "drop": ["car_name"],
                 "categorical": ["origin"]},
    "diabetes": {"source": "diabetes", "target": "progression"},
    "breast_cancer": {"source": "breast_cancer", "target": "diagnosis"},
    "wine": {"source": "wine", "target": "cultivar"},
}
CLASSIFICATION = {"breast_cancer", "wine"}

# A shipped example is tuned: whatever else its curves show, it is not one of these.
NOT_BROKEN = ["underfitting", "worse_than_linear", "lr_too_high", "lr_too_low",
              "non_finite_loss", "one_class"]

NO_STOPPING = {"train.early_stopping.enabled": False}
# regime -> (overrides of a plain 64-64 Adam model, must name, must not name). A "must" entry
# that is a list is satisfied by any one of its kinds: both name the same cause.
REGIMES = {
    "good_fit": ({"train.epochs": 500, "train.early_stopping.patience": 30,
                  "model.hidden": [32, 32]}, ["good_fit"], []),
    "overfit": ({**NO_STOPPING, "model.hidden": [256, 256], "train.batch_size": 16,
                 "train.epochs": 300}, ["overfitting"], ["good_fit", "underfitting"]),
    # Too little capacity: a one-unit bottleneck on a regression table; on a classification
    # table (where one unit already draws a linear boundary) a weight penalty that holds every
    # weight near zero.
    "underfit": ({**NO_STOPPING, "model.hidden": [1], "train.lr": 0.01, "train.epochs": 300},
                 ["underfitting"], ["good_fit", "overfitting"]),
    "cut_short": ({**NO_STOPPING, "train.lr": 0.01, "train.epochs": 20}, ["not_converged"],
                  ["good_fit", "overfitting"]),
    "lr_too_low": ({**NO_STOPPING, "train.optimizer": "sgd", "train.lr": 1e-6,
                    "train.epochs": 50}, ["lr_too_low"], ["good_fit", "underfitting"]),
    # Too high for SGD with momentum: the loss jumps about, or blows up to NaN.
    "lr_too_high": ({**NO_STOPPING, "train.optimizer": "sgd", "train.lr": 0.5,
                     "train.momentum": 0.9, "train.epochs": 60},
                    [["lr_too_high", "non_finite_loss"]], ["good_fit"]),
    # Adam at 3.0: the units die in the first steps and the network ends worse than a line.
    "lr_far_too_high_adam": ({**NO_STOPPING, "train.lr": 3.0, "train.epochs": 60},
                             [["worse_than_linear", "lr_too_high"]],
                             ["good_fit", "not_converged"]),
}
CLASSIFICATION_OVERRIDES = {"underfit": {"model.hidden": [64, 64], "model.l2": 1.0}}
SKIPPED = {  # (table, regime) left out, and why
    # diabetes is close to linear: no network beats a linear model there by the 5 % a good
    # fit needs (its own case below says so).
    ("diabetes", "good_fit"),
    # At lr 0.01 these converge within a few epochs: 20 epochs cut nothing short.
    ("diabetes", "cut_short"), ("breast_cancer", "cut_short"),
    # The learning-rate regimes on one regression and one classification table each.
    ("diabetes", "lr_too_low"), ("diabetes", "lr_too_high"), ("diabetes", "lr_far_too_high_adam"),
    ("wine", "lr_too_low"), ("wine", "lr_too_high"), ("wine", "lr_far_too_high_adam"),
}


def table_case(table: str, regime: str) -> dict:
    overrides, must, must_not = REGIMES[regime]
    task = "classification" if table in CLASSIFICATION else "regression"
    if task == "classification":
        overrides = {**overrides, **CLASSIFICATION_OVERRIDES.get(regime, {})}
    config = {"name": f"{table}-{regime}", "data": TABLES[table], "task": {"type": task},
              "model": {"hidden": [64, 64]}, "train": {"seed": 0}}
    return {"name": f"{table}-{regime}", "config": config, "overrides": overrides,
            "must": must, "must_not": must_not}


def example_case(name: str, path: str, must: list | None = None,
                 must_not: list | None = None) -> dict:
    return {"name": name, "config": str(EXAMPLES / path), "overrides": {},
            "must": must or [], "must_not": NOT_BROKEN if must_not is None else must_not}


# The tutorial's regimes, shipped as examples/regimes/*.yaml, each made to show one.
REGIME_EXAMPLES = {
    "underfit": "underfitting", "balanced": "good_fit", "overfit": "overfitting",
    "overfit_dropout": "overfitting", "overfit_l1": "overfitting", "overfit_l2": "overfitting",
    "overfit_batchnorm": "overfitting", "sgd_lr_0.01": "not_converged",
    "sgd_lr_0.001": "not_converged", "sgd_lr_0.0001": "lr_too_low",
    "sgd_lr_0.000001": "lr_too_low", "sgd_lr_too_high": "lr_too_high",
}


def cases() -> list[dict]:
    every = [table_case(table, regime) for table in TABLES for regime in REGIMES
             if (table, regime) not in SKIPPED]
    linear_table = table_case("diabetes", "good_fit")
    every.append({**linear_table, "name": "diabetes-linear_table",
                  "must": [["no_better_than_linear", "worse_than_linear"]],
                  "must_not": ["good_fit"]})
    every += [
        example_case("example-auto_mpg", "auto_mpg.yaml"),
        example_case("example-breast_cancer", "breast_cancer.yaml"),
        example_case("example-wine", "wine.yaml"),
        example_case("example-digits", "digits.yaml"),
        example_case("example-frames", "frames/session_split.yaml"),
        example_case("example-scene_unet", "scene/unet.yaml"),
        # Plain cross-entropy on ~3 % malignant rows: it shows why the other configs exist.
        example_case("example-imbalance", "imbalance/plain.yaml", ["one_class"], ["good_fit"]),
        example_case("example-pseudo_label", "pseudo_label/digits_labelled_only.yaml"),
    ]
    every += [example_case(f"example-regimes-{path.stem}", f"regimes/{path.name}",
                           [REGIME_EXAMPLES[path.stem]],
                           [] if REGIME_EXAMPLES[path.stem] == "good_fit" else ["good_fit"])
              for path in sorted((EXAMPLES / "regimes").glob("*.yaml"))]
    return every


def record(case: dict, runs_dir: Path) -> dict:
    import trainwise
    from trainwise.diagnostics import context_from_run

    run = trainwise.fit(case["config"], case["overrides"], runs_dir=runs_dir, progress=False)
    history = json.loads((run.run_dir.path / "history.json").read_text())
    context = dataclasses.asdict(context_from_run(run.run_dir.path))
    history = kept_curves(history, context["monitor"])
    return {**{key: case[key] for key in ("name", "overrides")},
            "config": case["config"] if isinstance(case["config"], dict)
            else str(Path(case["config"]).relative_to(EXAMPLES.parent)),
            "history": _rounded(history), "context": _rounded(context)}


def kept_curves(history: list[dict], monitor: str) -> list[dict]:
    """The columns the diagnosis reads; timings and metrics it never looks at stay out."""
    keep = {"epoch", "loss", "val_loss", "grad_norm", "dead_units", monitor}
    return [{key: value for key, value in epoch.items() if key in keep} for epoch in history]


def _rounded(value):
    """Seven significant digits: the curves' shape, in a file a tenth the size."""
    if isinstance(value, float):
        return float(f"{value:.7g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def main(names: list[str]) -> None:
    chosen = [case for case in cases() if not names or case["name"] in names]
    if names and len(chosen) != len(names):
        known = sorted(case["name"] for case in cases())
        sys.exit(f"unknown case in {names}; the cases are: {', '.join(known)}")
    _make_example_data()
    with tempfile.TemporaryDirectory() as runs_dir:
        for case in chosen:
            recording = record(case, Path(runs_dir))
            path = HERE / f"{case['name']}.json"
            path.write_text(json.dumps(recording, separators=(",", ":")) + "\n")
            print(f"{case['name']}: {len(recording['history'])} epochs -> {path.name}")


def _make_example_data() -> None:
    """The examples whose data is generated, not shipped, make it the way their READMEs do."""
    makers = {"pseudo_label/data": [sys.executable, str(EXAMPLES / "pseudo_label/make_data.py")],
              "frames/gestures": ["trainwise", "make-frames", str(EXAMPLES / "frames/gestures")],
              "scene/data": ["trainwise", "make-scene", str(EXAMPLES / "scene/data")]}
    for folder, command in makers.items():
        if not (EXAMPLES / folder).exists():
            subprocess.run(command, check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
