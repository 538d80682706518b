"""A sweep's results: one row per member, sorted by the monitored value, and with several
seeds one row per grid point with the mean and standard deviation over its seeds.

Everything is read from the members' run records (status.json, metrics.json), so the table
can be rebuilt from the folders alone.
"""

from __future__ import annotations

import math

import pandas as pd

from trainwise.callbacks.monitor import resolve_mode
from trainwise.run import Run
from trainwise.sweep.grid import SweepMember

# The final-evaluation metrics worth a column, when a member's metrics.json has them.
HEADLINE_METRICS = ("mae", "rmse", "r2", "accuracy", "balanced_accuracy", "macro_f1", "nll",
                    "coverage_90")


def member_table(members: list[SweepMember], runs: list[Run]) -> pd.DataFrame:
    """One row per member: its values, seed, run id, status, best monitored value and epoch,
    and the headline metrics of its final evaluation (test split, else validation), sorted
    best first by the monitored value (members without one last)."""
    rows = []
    for member, run in zip(members, runs):
        status, metrics = run.status, run.metrics
        split = "test" if "test" in metrics else "val"
        scores = metrics.get(split, {})
        rows.append({
            "member": member.index, "point": member.point, **member.values,
            "seed": member.seed, "run": run.id, "status": status.get("status"),
            "epochs": status.get("epochs"), "best_epoch": status.get("best_epoch"),
            f"best_{status.get('monitor')}": status.get("best_value"),
            **{f"{split}_{name}": scores[name] for name in HEADLINE_METRICS if name in scores},
        })
    table = pd.DataFrame(rows)
    monitor = runs[0].status.get("monitor")
    column = f"best_{monitor}"
    if column in table:
        ascending = resolve_mode(monitor, members[0].config.train.early_stopping.mode) == "min"
        table = table.sort_values(column, ascending=ascending, na_position="last", kind="stable")
    return table.reset_index(drop=True)


def point_table(members: list[SweepMember], table: pd.DataFrame, monitor: str,
                mode: str) -> pd.DataFrame:
    """One row per grid point: its values, the seeds it ran, and ``mean ± std`` (sample std)
    of the monitored value and of each metric column, sorted best first by the mean."""
    keys = list(members[0].values)
    best = f"best_{monitor}"
    scores = [column for column in table.columns
              if column == best or column.startswith(("test_", "val_"))]
    rows = []
    for point, group in table.groupby("point", sort=True):
        row = {"point": point, **{key: group[key].iloc[0] for key in keys},
               "seeds": len(group)}
        for column in scores:
            values = pd.to_numeric(group[column], errors="coerce").dropna()
            row[f"{column}_mean"] = values.mean() if len(values) else math.nan
            row[f"{column}_std"] = values.std(ddof=1) if len(values) > 1 else math.nan
        rows.append(row)
    points = pd.DataFrame(rows)
    order = f"{best}_mean"
    if order in points:
        points = points.sort_values(order, ascending=resolve_mode(monitor, mode) == "min",
                                    na_position="last", kind="stable")
    return points.reset_index(drop=True)


def as_markdown(table: pd.DataFrame) -> str:
    """The table as Markdown, numbers to 4 significant digits, ``a_mean``/``a_std`` as a ± b."""
    shown = pd.DataFrame(index=table.index)
    for column in table.columns:
        if column.endswith("_std") and column[:-4] + "_mean" in table:
            continue
        if column.endswith("_mean") and column[:-5] + "_std" in table:
            std = table[column[:-5] + "_std"]
            shown[column[:-5]] = [_pm(mean, deviation) for mean, deviation
                                  in zip(table[column], std)]
        else:
            shown[column] = [_cell(value) for value in table[column]]
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    body = ["| " + " | ".join(str(value) for value in row) + " |" for row in shown.values]
    return "\n".join([header, rule, *body]) + "\n"


def _pm(mean, std) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    return _cell(mean) if std is None or math.isnan(std) else f"{_cell(mean)} ± {_cell(std)}"


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
