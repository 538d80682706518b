"""Many runs from one config: a grid of values, repeated over seeds, trained as one batched
model when the runs allow it.

Example:
    >>> result = sweep("examples/auto_mpg.yaml", {"train.lr": [0.01, 0.001]}, seeds=3)
    ...                                                               # doctest: +SKIP
    >>> result.points                  # mean ± std of each point over its 3 seeds  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trainwise.atomic import write_json_atomic, write_text_atomic
from trainwise.config.load import load_config, parse_overrides
from trainwise.config.schema import Config, SweepConfig
from trainwise.errors import UserError
from trainwise.reports.sweep_plot import plot_sweep_overlay
from trainwise.run import Run
from trainwise.sweep.grid import SweepMember, expand
from trainwise.sweep.plan import Plan, choose_plan
from trainwise.sweep.results import as_markdown, member_table, point_table
from trainwise.sweep.train_members import fused_problem, train_members
from trainwise.tracking.run_dir import unique_folder
from trainwise.yaml_io import dump_yaml

SWEEPS_FOLDER = "sweeps"  # under the runs folder: one folder per sweep


@dataclass
class SweepResult:
    """What a sweep leaves: its folder, plan, member runs and result tables.

    Attributes:
        path: the sweep's folder (sweep.json, results.csv/.md, overlay.png).
        plan: how the members trained, and why.
        members: the members, in order.
        runs: each member's run, in member order.
        table: one row per member, best first.
        points: one row per grid point with mean and std over seeds (None with one seed).
    """

    path: Path
    plan: Plan
    members: list[SweepMember]
    runs: list[Run]
    table: pd.DataFrame
    points: pd.DataFrame | None

    @property
    def best(self) -> Run:
        """The member run with the best monitored value."""
        return next(run for run in self.runs if run.id == self.table["run"].iloc[0])


def sweep(config: str | Path | dict | Config, grid: dict[str, list] | None = None, *,
          seeds: int | None = None, mode: str | None = None, workers: int | None = None,
          overrides: list[str] | dict | None = None, runs_dir: str | Path = "runs",
          progress: bool = True) -> SweepResult:
    """Train every member of a sweep and write its results.

    Args:
        config: the base config (YAML path, dict or Config); its ``sweep:`` block, if any,
            gives the defaults of the arguments below.
        grid: config paths to lists of values, added to (and overriding) the block's grid.
        seeds: repeat each point with this many seeds.
        mode: auto, batched, sequential or parallel (see ``SweepConfig``).
        workers: processes for parallel.
        overrides: applied to the base config first, like ``trainwise train``'s.
        runs_dir: where the member runs and the sweep's folder go.
        progress: show progress.

    Raises:
        UserError: an empty grid, a bad value, or ``mode: batched`` where it cannot be.
    """
    base = load_config(config, parse_overrides(overrides))
    block = base.sweep or SweepConfig()
    grid = {**block.grid, **(grid or {})}
    seeds = seeds or block.seeds
    if not grid and seeds == 1:
        raise UserError("the sweep has one run only: give --grid key=v1,v2 (or a sweep.grid "
                        "block in the config) or --seeds N")
    mode, workers = mode or block.mode, workers or block.workers
    members = expand(base, grid, seeds)
    needs_fused = mode in ("auto", "batched")
    plan = choose_plan(members, mode, workers,
                       fused_problem(members[0].config) if needs_fused else None)
    folder = unique_folder(Path(runs_dir) / SWEEPS_FOLDER, base.name)
    record = {"grid": grid, "seeds": seeds, "mode": plan.mode, "reason": plan.reason,
              "members": [{"member": m.index, "point": m.point, "values": m.values,
                           "seed": m.seed, "label": m.label} for m in members]}
    write_json_atomic(folder / "sweep.json", record)
    write_text_atomic(folder / "base_config.yaml", dump_yaml(
        base.model_dump(mode="json", exclude={"sweep"}), sort_keys=False))
    if progress:
        print(f"sweep: {len(members)} runs, {plan.mode} ({plan.reason})")
    runs = train_members(members, plan, folder.name, Path(runs_dir), workers, progress)
    write_json_atomic(folder / "sweep.json", {**record, "runs": [run.id for run in runs]})
    return record_results(folder, plan, members, runs, seeds)


def record_results(folder: Path, plan: Plan, members: list[SweepMember], runs: list[Run],
                    seeds: int) -> SweepResult:
    """Results tables (CSV, Markdown), the members' run ids, and the overlay plot."""
    table = member_table(members, runs)
    stopping = members[0].config.train.early_stopping
    monitor = runs[0].status.get("monitor") or stopping.monitor
    points = point_table(members, table, monitor, stopping.mode) if seeds > 1 else None
    write_text_atomic(folder / "results.csv", table.to_csv(index=False))
    markdown = as_markdown(table) if points is None else \
        as_markdown(points) + "\n" + as_markdown(table)
    write_text_atomic(folder / "results.md", markdown)
    if points is not None:
        write_text_atomic(folder / "points.csv", points.to_csv(index=False))
    curves = [(member.label, member.point, [r["epoch"] for r in run.history],
               [r.get(monitor, float("nan")) for r in run.history])
              for member, run in zip(members, runs)]
    (folder / "plots").mkdir(exist_ok=True)
    plot_sweep_overlay(curves, monitor, folder / "plots" / "overlay.png")
    return SweepResult(folder, plan, members, runs, table, points)

