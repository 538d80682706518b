"""The LONG fault set: hundreds of seeded SIGKILLs spread over scenarios and kill kinds.

Each plan trains a scenario (tests/faults/harness.py: a plain regression run, the
probabilistic task, a sequential and a batched sweep), kills it at a drawn moment (a random
time in a phase of the run, a checkpoint or weights write in one of its phases, a validation
pass, the start of a session), sometimes kills the resumes too, resumes until finished and
compares the result with the uninterrupted reference. The summary counts, per scenario, the
kills that landed, the runs that could be resumed to the end, the bit-identical ones and the
ones that left a ``*.tmp`` behind.

    .venv/bin/python benchmarks/faults_long.py --kills 200 --seed 0 --out faults.json

``--out x.json`` also writes ``x.md`` (and ``--out x.md`` also ``x.json``). A plan costs
~10-25 s (each process imports torch); two run at a time by default.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the harness lives with the tests: tests/faults

from tests.faults import harness
from tests.faults.harness import Fault, Plan, at_begin, at_time, at_validation, at_write

TIME_WINDOWS = ("startup", "early", "training", "finishing", "any")
WRITE_PHASES = ("partial", "complete", "swapped", "renamed")
# Of the kill kinds for the starting command, how often each is drawn.
FIRST_KINDS = {"time": 4, "checkpoint": 3, "weights": 1, "validation": 2, "begin": 1}
RESUME_KILL_CHANCE = 0.3  # a plan also kills one or two of its resumes


def first_fault(rng: random.Random, scenario: harness.Scenario, seed: int) -> Fault:
    """A kill of the command that starts the run, of a drawn kind."""
    kind = rng.choices(list(FIRST_KINDS), weights=list(FIRST_KINDS.values()))[0]
    epochs = scenario.config["train"]["epochs"]
    members = 2 if scenario.is_sweep else 1
    if kind == "time":
        return at_time(rng.choice(TIME_WINDOWS), seed)
    if kind == "checkpoint":
        return at_write(rng.randint(1, 40), rng.choice(WRITE_PHASES),
                        rng.choice(("*.pt", "last.pt", "best.pt")))
    if kind == "weights":  # the final model.safetensors: all epochs done, status not yet
        return at_write(rng.randint(1, members), rng.choice(WRITE_PHASES), "model.safetensors")
    if kind == "validation":
        passes = epochs * (1 if scenario.batched else members)
        return at_validation(rng.randint(1, passes), rng.choice(("before", "after")))
    return at_begin(rng.randint(1, members))


def resume_fault(rng: random.Random, seed: int) -> Fault:
    """A kill of a resume: early in it, so that it lands before the resume is done."""
    kind = rng.choice(("time", "write", "validation"))
    if kind == "time":
        return at_time("training", seed)
    if kind == "write":
        return at_write(rng.randint(1, 10), rng.choice(WRITE_PHASES))
    return at_validation(rng.randint(1, 20), rng.choice(("before", "after")))


def make_plans(kills: int, seed: int) -> list[Plan]:
    """Plans whose faults add up to at least ``kills``, scenarios taken in turn."""
    rng = random.Random(seed)
    names = list(harness.SCENARIOS)
    plans, planned = [], 0
    while planned < kills:
        name = names[len(plans) % len(names)]
        scenario = harness.SCENARIOS[name]
        faults = [first_fault(rng, scenario, rng.randrange(10**6))]
        if rng.random() < RESUME_KILL_CHANCE:
            faults += [resume_fault(rng, rng.randrange(10**6))
                       for _ in range(rng.randint(1, 2))]
        faults = faults[:max(1, kills - planned)]
        plans.append(Plan(name, tuple(faults)))
        planned += len(faults)
    return plans


def summarize(outcomes: list[harness.Outcome]) -> dict:
    """Counts per scenario and in all: plans, kills, resumable, bit-identical, leftovers."""
    def counts(group: list[harness.Outcome]) -> dict:
        started = [o for o in group if o.started]
        return {
            "plans": len(group),
            "kills_planned": sum(o.kills_planned for o in group),
            "kills_landed": sum(o.kills_landed for o in group),
            "not_started": len(group) - len(started),  # killed before any run record
            # killed after its status said finished (plots, diagnosis): nothing to resume
            "finished_when_killed": sum(o.finished_unresumed == o.runs > 0 and o.resumes == 0
                                        for o in started),
            "resumable": sum(o.resumable for o in started),
            "bit_identical": sum(o.identical for o in started),
            "leftover_tmp": sum(bool(o.leftover_tmp) for o in group),
            "with_problems": sum(not o.ok for o in group),
            "seconds": round(sum(o.seconds for o in group), 1),
        }

    by_scenario = Counter(o.scenario for o in outcomes)
    return {"total": counts(outcomes),
            "scenarios": {name: counts([o for o in outcomes if o.scenario == name])
                          for name in by_scenario}}


def markdown(summary: dict, outcomes: list[harness.Outcome], args: argparse.Namespace) -> str:
    columns = ("plans", "kills_landed", "not_started", "finished_when_killed", "resumable",
               "bit_identical", "leftover_tmp", "with_problems", "seconds")
    lines = [f"# Fault suite, long set: {args.kills} kills, seed {args.seed}", "",
             ("Resumable and bit-identical count the plans whose run record existed "
              "(started); batched sweep members count as identical when exact as far as a "
              "batched checkpoint reached and equal to a clean resume after it "
              "(tests/faults/harness.py)."),
             "", "| scenario | " + " | ".join(columns) + " |",
             "|" + " --- |" * (len(columns) + 1)]
    rows = [*summary["scenarios"].items(), ("**total**", summary["total"])]
    lines += [f"| {name} | " + " | ".join(str(row[c]) for c in columns) + " |"
              for name, row in rows]
    failing = [o for o in outcomes if not o.ok]
    lines += ["", f"## Plans with problems ({len(failing)})", ""]
    lines += [f"- `{o.plan}`: " + "; ".join(o.problems) for o in failing] or ["none"]
    notes = [o for o in outcomes if o.notes]
    lines += ["", "## Notes", ""]
    lines += [f"- `{o.plan}`: " + "; ".join(o.notes) for o in notes] or ["none"]
    return "\n".join(lines) + "\n"


def write_results(out: Path, summary: dict, outcomes: list[harness.Outcome],
                  args: argparse.Namespace) -> None:
    """``out`` as JSON and as Markdown (whichever its suffix names, and the other beside it)."""
    records = [{k: v for k, v in asdict(o).items() if k != "outputs"} for o in outcomes]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(
        {"kills": args.kills, "seed": args.seed, "workers": args.workers, "summary": summary,
         "plans": records}, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(summary, outcomes, args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200, help="kills in all (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drawn plans")
    parser.add_argument("--out", type=Path, default=None,
                        help="results file (.json or .md; both are written)")
    parser.add_argument("--workers", type=int, default=2, help="plans run at once")
    args = parser.parse_args(argv)

    plans = make_plans(args.kills, args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trainwise-faults-") as scratch:
        references = harness.References(Path(scratch) / "references")
        outcomes = harness.run_plans(plans, references, Path(scratch) / "plans", args.workers)
    summary = summarize(outcomes)
    print(markdown(summary, outcomes, args), end="")
    print(f"\n{len(plans)} plans in {time.monotonic() - started:.0f} s")
    if args.out is not None:
        write_results(args.out, summary, outcomes, args)
        print(f"results: {args.out.with_suffix('.json')}, {args.out.with_suffix('.md')}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
