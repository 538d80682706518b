"""Kill-and-resume harness: train, SIGKILL at a chosen moment, resume until finished, compare.

trainwise promises that a run killed at any instant resumes and finishes bit-identical to an
uninterrupted run. One check here is a *plan*: a scenario (a config, trained by ``trainwise
train`` or ``trainwise sweep``) and a list of faults, the first for the command that starts
the run, the next ones for the resumes that follow. The harness

1. trains the scenario's reference once, uninterrupted, and times it (when the run folder
   appears, the first and last ``last.pt``, the exit) so that random kill times can be drawn
   from the phases of a real run;
2. starts the command, kills it (SIGKILL to its process group, or from inside through
   ``driver.py`` at an exact point: a checkpoint write, a validation pass, ``Session.begin``),
   then runs ``trainwise resume RUN`` for every run the command left, killing resumes as the
   plan says, until each run's status is ``finished``;
3. compares each run with the reference: ``history.json`` without wall-clock fields,
   ``model.safetensors`` tensor by tensor with ``torch.equal``, ``metrics.json``; and checks
   that no ``*.tmp`` file is left anywhere in the run folder.

Problems are collected as strings in an ``Outcome``, not raised, so the long benchmark
(benchmarks/faults_long.py) can count them; the tests assert there are none.

Batched sweeps are where "bit-identical to the uninterrupted run" does not hold: a killed
batched member resumes *alone* on the single-run fused step. Its matrix products round
differently in the last bit (docs/sweeps.md), and members with dropout drew their masks
together, so a member resumed alone draws other masks. Measured here (Auto MPG, 400
epochs): without dropout the resumed curves leave 1e-5 relative after 100-200 epochs and
reach ~1e-3; with dropout they differ from the first resumed epoch by several percent. The
strongest true statement, and what ``compare_batched`` asserts, is:

- the epochs the batched process completed and checkpointed are bit-identical to the
  uninterrupted sweep's member, and
- the rest is exactly what one clean resume of the same checkpoint gives: a copy of the
  member's folder taken right after the sweep was killed is resumed without faults, and the
  member (whose resumes were killed and resumed again) must equal it bit for bit.

The drift from the uninterrupted member after the resume is measured and noted, not asserted.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("driver.py")
_VENV_BIN = REPO_ROOT / ".venv" / "bin"
PYTHON = str(_VENV_BIN / "python") if (_VENV_BIN / "python").exists() else sys.executable
TRAINWISE = [str(_VENV_BIN / "trainwise")] if (_VENV_BIN / "trainwise").exists() else \
    [PYTHON, "-m", "trainwise.cli"]

# History fields that measure the wall clock: two identical runs may differ in them.
WALL_CLOCK_KEYS = frozenset({"epoch_time_s"})
# Files of a run folder whose presence depends on how it was run, not on what it holds.
VOLATILE_FILES = frozenset({"lock", "process.json", "error.log", "checkpoints/last.prev.pt"})
# Often enough that kills land during writes: a checkpoint every epoch or two.
CHECKPOINT_EVERY_S = 0.02
# A child that runs longer than this hangs (a whole run takes ~10 s here).
CHILD_TIMEOUT_S = 240.0
# Resumes beyond the planned (killed) ones before the harness gives up on a run.
EXTRA_RESUMES = 2
# Twin copies of batched members (see the module doc) go here, under the plan's folder.
TWINS_FOLDER = "twins"
# One thread per child: the harness runs two children at once on small CPUs, and OpenMP
# threads spin-waiting for a core make tiny epochs 10-100x slower. The reference runs the
# same way, so this changes nothing in what is compared.
CHILD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "250",
             "PYTHONUNBUFFERED": "1"}


# ----------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class Scenario:
    """A config and how it is started: ``trainwise train``, or ``trainwise sweep`` with args."""

    name: str
    config: dict
    sweep_args: tuple[str, ...] = ()
    batched: bool = False

    @property
    def is_sweep(self) -> bool:
        return bool(self.sweep_args)


def auto_mpg_config(epochs: int, task: dict | None = None) -> dict:
    """A small Auto MPG run that exercises the state a checkpoint must carry."""
    return {
        "name": "fault",
        "data": {"source": "auto_mpg", "target": "mpg", "drop": ["car_name"],
                 "categorical": ["origin"], "split": {"val": 0.2, "test": 0.2}},
        "task": task or {"type": "regression", "loss": "huber"},
        # Dropout draws from the RNG every batch: its state must come back exactly.
        "model": {"hidden": [32, 32], "dropout": 0.1},
        "train": {
            "optimizer": "adam", "lr": 0.003, "batch_size": 16, "epochs": epochs, "seed": 7,
            "scheduler": {"name": "step", "step_size": max(1, epochs // 4), "gamma": 0.5},
            # Never stops (patience > epochs) but its counters and best weights are state
            # every checkpoint carries, and restore_best decides the final weights.
            "early_stopping": {"patience": epochs + 1, "restore_best": True},
            "checkpoint": {"last_every_s": CHECKPOINT_EVERY_S},
        },
    }


def digits_config(epochs: int) -> dict:
    """A small CNN on the bundled 8×8 digits with augmentation and dropout: per-batch
    augmentation draws and dropout masks are state a resume must reproduce exactly."""
    return {
        "name": "fault_images",
        "data": {"kind": "images", "source": "digits", "split": {"val": 0.2, "test": 0.2},
                 "augment": {"shift": 0.125, "noise_std": 0.1, "hflip": 0.3}},
        "task": {"type": "classification"},
        "model": {"name": "cnn", "layers": [
            {"type": "conv2d", "filters": 8, "kernel": 3, "activation": "relu"},
            {"type": "maxpool2d", "size": 2}, {"type": "dropout", "rate": 0.2},
            {"type": "globalavgpool"}]},
        "train": {"lr": 0.01, "batch_size": 64, "epochs": epochs, "seed": 7,
                  "early_stopping": {"patience": epochs + 1, "restore_best": True},
                  "checkpoint": {"last_every_s": CHECKPOINT_EVERY_S}},
    }


def segmentation_config(epochs: int) -> dict:
    """A tiny UNet on random chips of a generated scene, flips, turns and brightness on:
    chips, augmentation draws and batch-norm statistics are state a resume must reproduce.
    The scene is written beside the config (``write_config``)."""
    return {
        "name": "fault_segmentation",
        "data": {"kind": "raster", "source": "scene/scene.tif",
                 "raster": {"labels": "scene/labels.tif", "chip_size": 32, "train_chips": 32},
                 "split": {"method": "spatial_blocks", "block_size": 480, "folds": 4,
                           "val": 0.25},
                 "augment": {"hflip": 0.5, "rot90": 0.5, "brightness": 0.2}},
        "task": {"type": "segmentation", "class_weights": "balanced"},
        "model": {"name": "unet", "depth": 2, "width": 4, "batch_norm": True, "dropout": 0.1},
        "train": {"lr": 0.01, "batch_size": 8, "epochs": epochs, "seed": 7,
                  "early_stopping": {"patience": epochs + 1, "restore_best": True},
                  "checkpoint": {"last_every_s": CHECKPOINT_EVERY_S}},
    }


_SWEEP_GRID = ("--grid", "train.lr=0.01,0.003")
# Epochs per scenario: ~2-4 s of training on a slow 2-core CPU (the process itself adds
# ~5 s of imports and ~2 s of evaluation, plots and diagnosis).
SCENARIOS = {
    "regression": Scenario("regression", auto_mpg_config(600)),
    "probabilistic": Scenario("probabilistic", auto_mpg_config(
        200, {"type": "probabilistic_regression", "mc_dropout": 8})),
    "sweep_sequential": Scenario("sweep_sequential", auto_mpg_config(300),
                                 (*_SWEEP_GRID, "--mode", "sequential")),
    "sweep_batched": Scenario("sweep_batched", auto_mpg_config(400),
                              (*_SWEEP_GRID, "--mode", "batched"), batched=True),
    "images_augmented": Scenario("images_augmented", digits_config(12)),
    "segmentation": Scenario("segmentation", segmentation_config(30)),
}


# ----------------------------------------------------------------- faults
@dataclass(frozen=True)
class Fault:
    """One kill (or pause) of one process.

    kind: ``time`` (SIGKILL after a delay drawn with ``random.Random(seed)`` from the
    reference's ``window``), or ``write``/``validation``/``begin`` (from inside, see
    driver.py) at the ``at``-th occurrence, in ``phase``.
    """

    kind: str
    at: int = 1
    phase: str = ""
    pattern: str = "*.pt"
    window: str = "any"
    seed: int = 0
    pause_s: float = 0.0  # phase pause: hold at most this long...
    marker: str = ""  # ...made when the pause begins; deleting it ends the pause

    def describe(self) -> str:
        if self.kind == "time":
            return f"time:{self.window}#{self.seed}"
        if self.kind == "write":
            return f"write:{self.pattern}#{self.at}:{self.phase}"
        return f"{self.kind}#{self.at}" + (f":{self.phase}" if self.phase else "")


def at_time(window: str, seed: int) -> Fault:
    return Fault("time", window=window, seed=seed)


def at_write(at: int, phase: str, pattern: str = "*.pt") -> Fault:
    return Fault("write", at=at, phase=phase, pattern=pattern)


def at_validation(at: int, phase: str = "after") -> Fault:
    return Fault("validation", at=at, phase=phase)


def at_begin(at: int = 1) -> Fault:
    return Fault("begin", at=at)


def pause_at_validation(at: int, marker: Path, pause_s: float = 120.0) -> Fault:
    """Hold the process inside its ``at``-th validation until ``marker`` is deleted."""
    return Fault("validation", at=at, phase="pause", pause_s=pause_s, marker=str(marker))


@dataclass(frozen=True)
class Plan:
    """A scenario and its faults: the first for the starting command, then one per resume."""

    scenario: str
    faults: tuple[Fault, ...]

    def describe(self) -> str:
        return f"{self.scenario}[{' > '.join(f.describe() for f in self.faults)}]"


# ----------------------------------------------------------------- run records
@dataclass
class RunRecord:
    """What two runs must agree on, read from a run folder."""

    name: str
    history: list[dict]
    weights: dict
    metrics: dict
    status: dict
    files: frozenset[str]  # the run folder's files (VOLATILE_FILES and temporaries left out)


def read_record(run_dir: Path) -> RunRecord:
    """The comparable parts of a finished run: history, final weights, metrics, status."""
    from safetensors.torch import load_file

    history = json.loads((run_dir / "history.json").read_text())
    return RunRecord(
        name=run_name(run_dir),
        history=[{k: v for k, v in record.items() if k not in WALL_CLOCK_KEYS}
                 for record in history],
        weights=load_file(run_dir / "model.safetensors"),
        metrics=json.loads((run_dir / "metrics.json").read_text()),
        status=read_status(run_dir),
        files=record_files(run_dir),
    )


def record_files(run_dir: Path) -> frozenset[str]:
    """Relative paths of the run's files, without VOLATILE_FILES and ``*.tmp``."""
    return frozenset(
        path for root, _, names in os.walk(run_dir) for name in names
        if not name.endswith(".tmp")
        and (path := Path(root, name).relative_to(run_dir).as_posix()) not in VOLATILE_FILES)


def run_name(run_dir: Path) -> str:
    """The run's config name (a sweep member's name carries its values, e.g. fault-lr0.01)."""
    return yaml.safe_load((run_dir / "config.yaml").read_text())["name"]


def read_status(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def record_complete(run_dir: Path) -> bool:
    """Finished, with the findings that end every finished run's record."""
    return read_status(run_dir).get("status") == "finished" and \
        (run_dir / "findings.json").is_file()


def run_dirs(runs_dir: Path) -> list[Path]:
    """Every run folder under ``runs_dir`` with a record to resume (config.yaml), oldest first."""
    return [p for p in _run_folders(runs_dir) if (p / "config.yaml").is_file()]


def abandoned_starts(runs_dir: Path) -> list[Path]:
    """Run folders killed before their config.yaml: by design not resumable; the next
    ``trainwise train`` in that runs folder removes them (tracking.run_dir)."""
    return [p for p in _run_folders(runs_dir) if not (p / "config.yaml").is_file()]


def _run_folders(runs_dir: Path) -> list[Path]:
    if not runs_dir.is_dir():
        return []
    return sorted(p for p in runs_dir.iterdir()
                  if p.is_dir() and (p / "checkpoints").is_dir() and not p.name.startswith("."))


def leftover_temporaries(folder: Path) -> list[str]:
    """``*.tmp`` files anywhere under ``folder`` (os.walk: hidden names included)."""
    return sorted(str(Path(root, name).relative_to(folder))
                  for root, _, names in os.walk(folder) for name in names
                  if name.endswith(".tmp"))


def checkpoint_epoch(run_dir: Path) -> int:
    """The epoch a resume of ``run_dir`` would start from: last.pt's, else last.prev.pt's, else 0."""
    from trainwise.errors import UserError
    from trainwise.training.checkpoint import load_checkpoint

    for name in ("last.pt", "last.prev.pt"):
        path = run_dir / "checkpoints" / name
        try:
            return int(load_checkpoint(path)["train_state"]["epoch"])
        except (UserError, KeyError, TypeError):  # missing or damaged: the resume falls back
            pass
    return 0


# ----------------------------------------------------------------- comparisons
def compare_exact(expected: RunRecord, actual: RunRecord) -> list[str]:
    """Bit-for-bit: the same history, the same tensors, the same metrics."""
    import torch

    problems = []
    if actual.history != expected.history:
        problems.append(f"history differs: {_first_difference(expected.history, actual.history)}")
    problems += _weights_problems(expected.weights, actual.weights,
                                  lambda want, got: torch.equal(want, got))
    if actual.metrics != expected.metrics:
        problems.append(f"metrics differ: {expected.metrics} != {actual.metrics}")
    return [f"{actual.name}: {p}" for p in problems]


def compare_batched(expected: RunRecord, twin: RunRecord, actual: RunRecord,
                    exact_epochs: int) -> list[str]:
    """A batched member: its first ``exact_epochs`` equal the uninterrupted member's, and the
    whole run equals ``twin``, a clean resume of the same checkpoint (see the module doc)."""
    problems = []
    exact = min(exact_epochs, len(expected.history))
    if actual.history[:exact] != expected.history[:exact]:
        problems.append(f"checkpointed batched epochs 1-{exact} differ from the uninterrupted "
                        f"sweep: {_first_difference(expected.history[:exact], actual.history[:exact])}")
    problems += [f"versus a clean resume of the same checkpoint: {p.split(': ', 1)[1]}"
                 for p in compare_exact(twin, actual)]
    return [f"{actual.name}: {p}" for p in problems]


def drift(expected: RunRecord, actual: RunRecord, key: str = "val_loss") -> float:
    """The largest relative difference of ``key`` between two histories (a note, not a check)."""
    pairs = [(want[key], got[key]) for want, got in zip(expected.history, actual.history)
             if key in want and key in got]
    return max((abs(got - want) / max(abs(want), 1e-12) for want, got in pairs), default=0.0)


def _weights_problems(expected: dict, actual: dict, same) -> list[str]:
    if set(actual) != set(expected):
        return [f"weight names differ: {sorted(expected)} vs {sorted(actual)}"]
    return [f"weights {name} differ" for name, tensor in expected.items()
            if not same(tensor, actual[name])]


def _first_difference(expected: list[dict], actual: list[dict]) -> str:
    if len(expected) != len(actual):
        return f"{len(actual)} epochs, reference {len(expected)}"
    for want, got in zip(expected, actual):
        if want != got:
            keys = [k for k in want.keys() | got.keys() if want.get(k) != got.get(k)]
            return f"epoch {want.get('epoch')}: " + ", ".join(
                f"{k} {want.get(k)!r} vs {got.get(k)!r}" for k in sorted(keys)[:3])
    return "?"


# ----------------------------------------------------------------- processes
@dataclass
class Child:
    """How one process ended."""

    argv: list[str]
    returncode: int
    seconds: float
    output: str
    killed: bool

    def tail(self, lines: int = 6) -> str:
        return " | ".join(self.output.strip().splitlines()[-lines:])


def run_child(argv: list[str], fault: Fault | None, workdir: Path,
              delay_s: float | None = None) -> Child:
    """Run ``trainwise ARGV`` (through driver.py for an in-process fault) and wait for it.

    With ``delay_s``, SIGKILL the whole process group that long after the start.
    """
    running = start_child(argv, fault, workdir)
    if delay_s is not None:
        _wait(running.process, delay_s)
        if running.process.poll() is None:
            _kill_group(running.process)
    return running.finish()


@dataclass
class RunningChild:
    """A started child whose output goes to a log file until ``finish``."""

    argv: list[str]
    process: subprocess.Popen
    log: Path
    started: float

    def finish(self, timeout_s: float = CHILD_TIMEOUT_S) -> Child:
        """Wait for the child (killing it after ``timeout_s``) and collect its output."""
        if _wait(self.process, timeout_s) is None:
            _kill_group(self.process)
            self.process.wait()
        seconds = time.monotonic() - self.started
        text = self.log.read_text(errors="replace")
        self.log.unlink()
        code = self.process.returncode
        return Child(self.argv, code, seconds, text, code == -signal.SIGKILL)


def start_child(argv: list[str], fault: Fault | None, workdir: Path) -> RunningChild:
    """Start ``trainwise ARGV`` in a session of its own (so a kill takes its whole group)."""
    if fault is None or fault.kind == "time":
        command, env = [*TRAINWISE, *argv], {}
    else:
        command, env = [PYTHON, str(DRIVER), *argv], {"TRAINWISE_FAULT": json.dumps(asdict(fault))}
    log = workdir / f"child-{time.monotonic_ns()}.log"
    with open(log, "wb") as output:  # the child keeps its own descriptor
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   cwd=workdir, start_new_session=True,
                                   env={**os.environ, **CHILD_ENV, **env})
    return RunningChild(argv, process, log, time.monotonic())


def _wait(process: subprocess.Popen, seconds: float) -> int | None:
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return None


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def start_argv(scenario: Scenario, config: Path, runs_dir: Path) -> list[str]:
    if scenario.is_sweep:
        return ["sweep", str(config), *scenario.sweep_args, "--runs-dir", str(runs_dir),
                "--quiet"]
    return ["train", str(config), "--runs-dir", str(runs_dir), "--quiet"]


def resume_argv(run_dir: Path, runs_dir: Path) -> list[str]:
    return ["resume", str(run_dir), "--runs-dir", str(runs_dir), "--quiet"]


def write_config(scenario: Scenario, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if scenario.config["data"].get("kind") == "raster" and not (folder / "scene").exists():
        from trainwise.datasets.scene import make_scene

        make_scene(folder / "scene", size=192, seed=3)  # the same bytes for every attempt
    path = folder / f"{scenario.name}.yaml"
    path.write_text(yaml.safe_dump(scenario.config, sort_keys=False))
    return path


# ----------------------------------------------------------------- references
@dataclass
class Timeline:
    """Seconds from a command's start: run folder made, first and last last.pt, exit."""

    run_dir_s: float
    first_checkpoint_s: float
    last_checkpoint_s: float
    exit_s: float

    def window(self, name: str) -> tuple[float, float]:
        """Where a ``time`` fault of that window may land."""
        return {
            "startup": (0.5, 2.5),  # imports, config, data: often before the run folder exists
            "early": (self.run_dir_s, self.first_checkpoint_s),  # a run with no checkpoint yet
            "training": (self.first_checkpoint_s, self.last_checkpoint_s),
            # Weights, metrics, plots, diagnosis.
            "finishing": (self.last_checkpoint_s, max(self.last_checkpoint_s, 0.98 * self.exit_s)),
            # Short of the very end: a loaded machine may run faster than the reference did.
            "any": (0.5, 0.9 * self.exit_s),
        }[name]

    def draw(self, fault: Fault) -> float:
        low, high = self.window(fault.window)
        return random.Random(f"{fault.window}/{fault.seed}").uniform(low, max(low, high))


@dataclass
class Reference:
    """An uninterrupted run of a scenario: each run's record by name, and its timeline."""

    records: dict[str, RunRecord]
    timeline: Timeline


def train_reference(scenario: Scenario, workdir: Path) -> Reference:
    """Train ``scenario`` uninterrupted, timing its phases by watching its folder."""
    config = write_config(scenario, workdir)
    runs_dir = workdir / "runs"
    seen: dict[str, float] = {}
    running = start_child(start_argv(scenario, config, runs_dir), None, workdir)
    while running.process.poll() is None:
        _note_phases(runs_dir, seen, time.monotonic() - running.started)
        time.sleep(0.005)
    exit_s = time.monotonic() - running.started
    child = running.finish()
    if child.returncode != 0:
        raise RuntimeError(f"reference {scenario.name} failed ({child.returncode}): "
                           f"{child.output[-2000:]}")
    records = {record.name: record for record in map(read_record, run_dirs(runs_dir))}
    run_dir_s = seen.get("run_dir", exit_s / 2)
    first = seen.get("first_checkpoint", run_dir_s)
    return Reference(records, Timeline(run_dir_s, first, seen.get("last_checkpoint", first),
                                       exit_s))


def _note_phases(runs_dir: Path, seen: dict, now: float) -> None:
    """Record when the first run folder appears, and when last.pt is first and last rewritten."""
    folders = run_dirs(runs_dir)
    if not folders:
        return
    seen.setdefault("run_dir", now)
    stamps = []
    for folder in folders:
        try:
            stat = (folder / "checkpoints" / "last.pt").stat()
        except FileNotFoundError:  # not yet, or between the move aside and the rename
            continue
        stamps.append((folder.name, stat.st_mtime_ns, stat.st_ino))
    if stamps and stamps != seen.get("stamps"):
        seen.setdefault("first_checkpoint", now)
        seen["last_checkpoint"], seen["stamps"] = now, stamps


class References:
    """Each scenario's reference, trained once on first use (thread-safe)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._done: dict[str, Reference] = {}
        self._locks = {name: threading.Lock() for name in SCENARIOS}

    def get(self, name: str) -> Reference:
        with self._locks[name]:
            if name not in self._done:
                self._done[name] = train_reference(SCENARIOS[name], self.folder / name)
            return self._done[name]


# ----------------------------------------------------------------- one plan
@dataclass
class Outcome:
    """What happened to one plan, and what was wrong with the result."""

    plan: str
    scenario: str
    kills_planned: int
    kills_landed: int = 0
    started: bool = True  # the first kill left a run record to resume
    runs: int = 0
    resumes: int = 0
    finished_unresumed: int = 0  # runs already finished when killed (no resume needed)
    resumable: bool = True  # every run reached status finished through resume
    identical: bool = True  # every run equals the reference (batched: see compare_batched)
    leftover_tmp: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts worth reporting, not failures
    outputs: list[str] = field(default_factory=list)  # the resumes' output (tails)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self) -> str:
        text = f"{self.plan}: " + ("ok" if self.ok else "; ".join(self.problems))
        return text + (f" [{'; '.join(self.notes)}]" if self.notes else "")

    def explain(self) -> str:
        """An assertion message: the report, then the tail of the last resume's output."""
        tail = self.outputs[-1][-1500:] if self.outputs else "(no resume ran)"
        return f"{self.report()}\n--- last resume's output ---\n{tail}"


def run_plan(plan: Plan, reference: Reference, workdir: Path) -> Outcome:
    """Start, kill, resume until finished, and compare; the workdir is removed afterwards."""
    scenario = SCENARIOS[plan.scenario]
    outcome = Outcome(plan.describe(), plan.scenario, kills_planned=len(plan.faults))
    started = time.monotonic()
    try:
        _execute(scenario, plan, reference, workdir, outcome)
    except Exception as err:  # noqa: BLE001 -- a harness error fails the plan, with its reason
        outcome.problems.append(f"harness error: {type(err).__name__}: {err}")
    finally:
        outcome.seconds = time.monotonic() - started
        shutil.rmtree(workdir, ignore_errors=True)
    return outcome


def _execute(scenario: Scenario, plan: Plan, reference: Reference, workdir: Path,
             outcome: Outcome) -> None:
    config = write_config(scenario, workdir)
    runs_dir = workdir / "runs"
    faults = list(plan.faults)
    first = _run_faulted(start_argv(scenario, config, runs_dir), faults.pop(0), reference,
                         workdir, outcome)
    if not first.killed and first.returncode != 0:
        outcome.problems.append(f"the first command exited {first.returncode}: {first.tail()}")
    runs = run_dirs(runs_dir)
    outcome.runs = len(runs)
    _note_unstarted(runs_dir, runs, reference, outcome)
    if not runs:
        outcome.started = False  # killed before any run record existed: nothing to resume
    for run_dir in runs:
        _finish_run(run_dir, runs_dir, scenario, faults, reference, workdir, outcome)
    # Not the product's fault, but a plan whose kills missed proves less: the tests check
    # kills_landed themselves.
    if faults:
        outcome.notes.append(f"{len(faults)} resume fault(s) never used (no resume needed)")
    if outcome.kills_landed < outcome.kills_planned:
        outcome.notes.append(f"only {outcome.kills_landed} of {outcome.kills_planned} kills "
                             "landed (the process ended first)")


def _note_unstarted(runs_dir: Path, runs: list[Path], reference: Reference,
                    outcome: Outcome) -> None:
    """Abandoned run folders and sweep members the killed command never reached."""
    abandoned = abandoned_starts(runs_dir)
    if abandoned:
        outcome.notes.append(f"{len(abandoned)} run folder(s) killed before config.yaml "
                             "(not resumable by design)")
    missing = len(reference.records) - len(runs) - len(abandoned)
    if runs and missing > 0:
        outcome.notes.append(f"{missing} sweep member(s) never started")


def _finish_run(run_dir: Path, runs_dir: Path, scenario: Scenario, faults: list[Fault],
                reference: Reference, workdir: Path, outcome: Outcome) -> None:
    """Resume one run until finished, check for leftovers, compare with the reference."""
    twin = _twin(run_dir, workdir) if scenario.batched else None
    exact_epochs = checkpoint_epoch(run_dir) if scenario.batched else None
    killed_before, resumes_before = outcome.kills_landed, outcome.resumes
    finished = _resume_until_finished(run_dir, runs_dir, faults, reference, workdir, outcome)
    outcome.resumable &= finished
    leftovers = leftover_temporaries(run_dir)
    outcome.leftover_tmp += [f"{run_dir.name}/{name}" for name in leftovers]
    if leftovers:
        outcome.problems.append(f"{run_dir.name}: leftover temporary files {leftovers}")
    if not finished:
        outcome.identical = False
        return
    unresumed = outcome.resumes == resumes_before
    outcome.finished_unresumed += unresumed
    if twin is not None and outcome.kills_landed == killed_before:
        shutil.rmtree(twin.parent, ignore_errors=True)
        twin = run_dir  # no resume of it was killed: its one clean resume is the twin
    outcome.identical &= _compare(run_dir, reference, twin, exact_epochs, outcome, unresumed)


def _twin(run_dir: Path, workdir: Path) -> Path:
    """A copy of a killed run's folder, in a runs folder of its own, to resume cleanly."""
    twin_runs = workdir / TWINS_FOLDER / run_dir.name
    twin_runs.mkdir(parents=True)
    return Path(shutil.copytree(run_dir, twin_runs / run_dir.name))


def _run_faulted(argv: list[str], fault: Fault | None, reference: Reference, workdir: Path,
                 outcome: Outcome) -> Child:
    delay = reference.timeline.draw(fault) if fault is not None and fault.kind == "time" else None
    child = run_child(argv, fault, workdir, delay)
    if fault is not None and fault.phase != "pause":
        outcome.kills_landed += child.killed
    return child


def _resume_until_finished(run_dir: Path, runs_dir: Path, faults: list[Fault],
                           reference: Reference, workdir: Path, outcome: Outcome) -> bool:
    """``trainwise resume`` (killed as ``faults`` say) until the run's record is complete.

    Complete is status finished *and* findings.json, written last: a run killed after its
    status said finished (drawing plots, reading its curves) is resumed too, which writes
    the rest of its record again from its last checkpoint.
    """
    attempts, most = 0, len(faults) + EXTRA_RESUMES
    while not record_complete(run_dir):
        if attempts >= most:
            outcome.problems.append(f"{run_dir.name}: not finished after {attempts} resumes "
                                    f"(status {read_status(run_dir).get('status')!r})")
            return False
        fault = faults.pop(0) if faults else None
        child = _run_faulted(resume_argv(run_dir, runs_dir), fault, reference, workdir, outcome)
        attempts += 1
        outcome.resumes += 1
        outcome.outputs.append(child.output[-3000:])
        if child.killed:
            continue
        if child.returncode != 0:
            outcome.problems.append(f"{run_dir.name}: resume exited {child.returncode}: "
                                    f"{child.tail()}")
            return False
    return True


def _compare(run_dir: Path, reference: Reference, twin: Path | None, exact_epochs: int | None,
             outcome: Outcome, unresumed: bool) -> bool:
    """Compare a finished run with its reference (and, batched, with its clean twin).

    A run killed after its status said finished (while drawing plots or reading the curves)
    is not resumed, so files missing from it are noted; after a resume they are a problem.
    """
    try:
        actual = read_record(run_dir)
        expected = reference.records[actual.name]
    except (OSError, ValueError, KeyError) as err:
        outcome.problems.append(f"{run_dir.name}: unreadable record or no reference "
                                f"({type(err).__name__}: {err})")
        return False
    if actual.status.get("status") != "finished":
        outcome.problems.append(f"{run_dir.name}: status {actual.status.get('status')!r}")
    missing = sorted(expected.files - actual.files)
    if missing:
        (outcome.notes if unresumed else outcome.problems).append(
            f"{run_dir.name}: finished without {missing}"
            + (" (killed after its status said finished; not resumed)" if unresumed else ""))
    if twin is None:
        problems = compare_exact(expected, actual)
    else:
        problems = compare_batched(expected, _clean_resume(twin), actual, exact_epochs)
        outcome.notes.append(f"{actual.name}: resumed alone after batched epoch {exact_epochs}, "
                             f"val_loss drift from the uninterrupted member "
                             f"{drift(expected, actual):.1e}")
    outcome.problems += problems
    return not problems


def _clean_resume(twin: Path) -> RunRecord:
    """Resume the twin copy without faults until finished, and read its record."""
    if TWINS_FOLDER not in twin.parts:
        return read_record(twin)  # the run itself: its one resume was a clean one
    for _ in range(1 + EXTRA_RESUMES):
        if read_status(twin).get("status") == "finished":
            break
        child = run_child(resume_argv(twin, twin.parent), None, twin.parent)
        if child.returncode != 0:
            raise RuntimeError(f"the clean resume of {twin.name} exited {child.returncode}: "
                               f"{child.tail()}")
    return read_record(twin)


# ----------------------------------------------------------------- many plans
def run_plans(plans: list[Plan], references: References, folder: Path,
              workers: int = 2) -> list[Outcome]:
    """Run ``plans`` ``workers`` at a time; outcomes in plan order."""
    def one(indexed: tuple[int, Plan]) -> Outcome:
        index, plan = indexed
        return run_plan(plan, references.get(plan.scenario), folder / f"plan-{index}")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, enumerate(plans)))
