"""Time trainwise against the tools a user would pick instead, side by side, in one invocation.

    python benchmarks/run.py --scenario 1 --repeats 3 [--epochs N] [--tools a b ...]
                             [--device cpu|cuda] [--out benchmarks/results/]

Each scenario's data and initial weights are written once; then every tool trains on them,
alternating: repeat 1 runs every tool once, repeat 2 again (starting one tool later), and
so on, so background load falls on all of them alike. Every run is a fresh worker process
(``worker.py``). The table (Markdown and JSON, in ``--out``) gives the median wall time,
µs per optimizer step, ratios to the plain fused-Adam tensor loop and to trainwise, the
final validation loss and peak memory per tool. See README.md for what each tool does.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from job import Job
from peers import TOOLS
from report import markdown, summarize
from scenarios import GROUPS, SCENARIOS, Prepared, Scenario, prepare, skip_reason

HERE = Path(__file__).resolve().parent
PACKAGES = ("trainwise", "torch", "numpy", "lightning", "keras", "tensorflow")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _check_trainwise_sweep(args.trainwise_sweep)
    args.out.mkdir(parents=True, exist_ok=True)
    for number in _expand(args.scenario):
        result = run_scenario(SCENARIOS[number], args)
        _write(result, args.out)
    return 0


def run_scenario(scenario: Scenario, args: argparse.Namespace) -> dict:
    """All repeats of all tools on one scenario; returns the result (see ``report.markdown``)."""
    base = {"scenario": {"number": scenario.number, "title": scenario.title,
                         "notes": list(scenario.notes)}}
    reason = skip_reason(scenario)
    tools, unavailable = _available(args.tools, scenario)
    for name, why in unavailable.items():
        print(f"{name}: skipped: {why}", flush=True)
    if not reason and not tools:
        reason = "none of the chosen tools is installed"
    if reason:
        print(f"scenario {scenario.number}: skipped: {reason}", flush=True)
        return {**base, "skipped": reason}
    load_start = _load()
    with tempfile.TemporaryDirectory(prefix="trainwise-bench-") as scratch:
        prepared = prepare(scenario, args.seed, args.init, Path(scratch))
        template = _template(scenario, prepared, args)
        runs = _round_robin(template, tools, args.repeats, Path(scratch), args)
    steps = template.steps_per_run(prepared.n_train) * len(scenario.lrs)
    machine = {"load_start": load_start, "load_end": _load(), "summary": _machine(),
               "packages": _versions()}
    return {**base, "settings": _settings(template, prepared, tools, steps, args),
            "machine": machine, "unavailable": unavailable,
            "summary": summarize(runs, tools, steps, args.clock), "runs": runs,
            "finished_at": datetime.now().isoformat(timespec="seconds")}


def _template(scenario: Scenario, prepared: Prepared, args: argparse.Namespace) -> Job:
    """The job every run starts from; ``_run_worker`` fills in the tool and its folder."""
    files, warmup = prepared.files, prepared.warmup
    return Job(tool="", scenario=scenario.number, arrays=str(files.arrays),
               train_table=str(files.train_table), val_table=str(files.val_table),
               target=prepared.target, hidden=list(scenario.hidden),
               batch_size=scenario.batch_size, epochs=args.epochs or scenario.epochs,
               lrs=list(scenario.lrs), device=args.device, seed=args.seed, init=args.init,
               scratch="", options={"trainwise_sweep": args.trainwise_sweep},
               warmup=None if args.no_warmup else {
                   "arrays": str(warmup.arrays), "train_table": str(warmup.train_table),
                   "val_table": str(warmup.val_table), "epochs": 1},
               layers=list(scenario.layers), n_classes=prepared.n_classes,
               data_kind=prepared.kind)


def _settings(job: Job, prepared: Prepared, tools: list[str], steps: int,
              args: argparse.Namespace) -> dict:
    """What the results were measured with, for the table's header and the JSON."""
    return {"epochs": job.epochs, "batch_size": job.batch_size, "steps": steps,
            "repeats": args.repeats, "device": args.device, "init": args.init,
            "threads": args.threads, "warmup": not args.no_warmup, "clock": args.clock,
            "seed": args.seed, "tools": tools, "lrs": job.lrs, "sweep": len(job.lrs) > 1,
            "trainwise_sweep": args.trainwise_sweep, "n_train": prepared.n_train,
            "n_features": prepared.n_features, "n_classes": prepared.n_classes}


def _round_robin(template: Job, tools: list[str], repeats: int, scratch: Path,
                 args: argparse.Namespace) -> list[dict]:
    """Every tool once per repeat; each repeat starts one tool further along the list."""
    runs = []
    for repeat in range(repeats):
        shift = repeat % len(tools)
        for tool in tools[shift:] + tools[:shift]:
            run = _run_worker(template, tool, repeat, scratch, args)
            runs.append(run)
            _print_run(run, repeats)
    return runs


def _run_worker(template: Job, tool: str, repeat: int, scratch: Path,
                args: argparse.Namespace) -> dict:
    """One run of ``tool`` in a fresh process; its result, or the reason it failed."""
    folder = scratch / f"{tool}-{repeat}"
    folder.mkdir()
    job = Job(**{**asdict(template), "tool": tool, "scratch": str(folder),
                 "options": {**template.options, **TOOLS[tool].options}})
    job.write(folder / "job.json")
    result_path = folder / "result.json"
    started = time.perf_counter()
    try:
        process = subprocess.run(
            [sys.executable, str(HERE / "worker.py"), str(folder / "job.json"), str(result_path)],
            env=_worker_env(tool, args.device, args.threads), capture_output=True, text=True,
            timeout=args.timeout)
        result = _read_result(result_path, process)
    except subprocess.TimeoutExpired:
        result = {"error": f"timed out after {args.timeout:g} s"}
    result.update(tool=tool, repeat=repeat, process_s=time.perf_counter() - started)
    shutil.rmtree(folder)  # a run's checkpoints and record are not kept
    return result


def _read_result(path: Path, process: subprocess.CompletedProcess) -> dict:
    """The worker's result file, or the end of its stderr when it died before writing one."""
    if path.is_file():
        return json.loads(path.read_text())
    tail = (process.stderr or "").strip().splitlines()[-5:]
    return {"error": f"worker exited with code {process.returncode}: {' | '.join(tail)}"}


def _worker_env(tool: str, device: str, threads: int | None) -> dict:
    """The runner's environment, plus the tool's own variables and the shared settings."""
    env = {**os.environ, **TOOLS[tool].env, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # no tool may pick a GPU on its own (Keras would)
    if threads:
        # torch reads OMP_NUM_THREADS at start-up, TensorFlow its own two variables.
        env.update({name: str(threads) for name in (
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
            "TF_NUM_INTEROP_THREADS")})
    return env


def _print_run(run: dict, repeats: int) -> None:
    head = f"[{run['repeat'] + 1}/{repeats}] {run['tool']:<19}"
    if "error" in run:
        print(f"{head} FAILED: {run['error']}", flush=True)
        if run.get("traceback"):
            print(run["traceback"], file=sys.stderr, flush=True)
        return
    print(f"{head} {run['wall_s']:9.2f} s  val loss {run['val_loss']:.4f}  "
          f"peak RSS {run['peak_rss_mb']:.0f} MB  ({run['device']})", flush=True)


def _expand(numbers: list[str]) -> list[str]:
    """The scenarios named on the command line, groups ("3": 3a and 3b) opened, in order."""
    return [key for number in numbers for key in GROUPS.get(number, (number,))]


def _available(wanted: list[str], scenario: Scenario) -> tuple[list[str], dict[str, str]]:
    """The wanted tools that train this scenario's model and whose packages import, and why
    the others are skipped."""
    tools, unavailable = [], {}
    for name in wanted:
        if scenario.model not in TOOLS[name].models:
            unavailable[name] = f"trains the {', '.join(TOOLS[name].models)} only"
            continue
        missing = [package for package in TOOLS[name].needs
                   if importlib.util.find_spec(package) is None]
        if missing:
            unavailable[name] = (f"{', '.join(missing)} not installed "
                                 "(pip install -e '.[bench]')")
        else:
            tools.append(name)
    return tools, unavailable


def _check_trainwise_sweep(name: str) -> None:
    from peers.trainwise_runner import SWEEP_RUNNERS

    if name not in SWEEP_RUNNERS:
        sys.exit(f"--trainwise-sweep {name}: unknown; choose one of {', '.join(SWEEP_RUNNERS)}")


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _machine() -> str:
    return (f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}")


def _versions() -> dict:
    found = {}
    for package in PACKAGES:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def _write(result: dict, out: Path) -> None:
    from trainwise.atomic import write_json_atomic, write_text_atomic

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    stem = out / f"scenario{result['scenario']['number']}-{stamp}"
    page = markdown(result)
    write_json_atomic(stem.with_suffix(".json"), result)
    write_text_atomic(stem.with_suffix(".md"), page)
    print(f"\n{page}\nwritten: {stem}.md, {stem}.json", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", nargs="+", choices=sorted([*SCENARIOS, *GROUPS]),
                        default=["1"],
                        help="scenario number(s): 1 Auto MPG, 2 large tabular, 3 CNN (3a "
                             "digits and 3b frames; or one of them), 4 sweep")
    parser.add_argument("--repeats", type=int, default=3, help="rounds over all tools")
    parser.add_argument("--epochs", type=int, help="override the scenario's epochs")
    parser.add_argument("--tools", nargs="+", choices=list(TOOLS), default=list(TOOLS),
                        help="which tools (default: all whose packages are installed)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--init", choices=("torch", "glorot"), default="torch",
                        help="shared initial weights: PyTorch's Linear default, or "
                             "Glorot-uniform with zero biases (Keras' default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trainwise-sweep", default="sequential",
                        help="how trainwise trains a sweep (peers.trainwise_runner.SWEEP_RUNNERS)")
    parser.add_argument("--threads", type=int,
                        help="CPU threads for every tool (default: each library's own choice)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="what the table's times are: wall time, or the run process's CPU "
                             "time (steadier on a shared machine; compare with --threads 1)")
    parser.add_argument("--no-warmup", action="store_true",
                        help="time each tool cold: no untimed warm-up run in its process")
    parser.add_argument("--timeout", type=float, help="seconds after which one run is stopped")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    return parser


if __name__ == "__main__":
    sys.exit(main())
