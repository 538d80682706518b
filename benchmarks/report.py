"""Turn the runs of one invocation into the results table: medians, ratios, losses, memory.

Plain functions over plain data (the run dicts the workers wrote), so the table can be
rebuilt from a results JSON without running anything:

    python benchmarks/report.py benchmarks/results/scenario1-<date>-<time>.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from statistics import median

from peers import REFERENCE, TOOLS, TRAINWISE


def summarize(runs: list[dict], tools: list[str], steps: int,
              clock: str = "wall") -> list[dict]:
    """One row per tool: the median over its successful repeats, and ratios to the references.

    Args:
        runs: the workers' results, each with ``tool`` and either the times or ``error``.
        tools: the tools in table order.
        steps: optimizer steps one repeat of a tool takes (all its sweep runs together).
        clock: "wall" (``wall_s``) or "cpu" (``cpu_s``, the process's CPU time).

    Returns:
        Rows with ``median_s``, ``spread`` ((max - min) / median), ``us_per_step``,
        ``x_reference``, ``x_trainwise``, ``val_loss`` (median), ``peak_rss_mb`` (max),
        ``train_rss_mb`` (peak minus the RSS before training, max), ``device``, ``ok``/``runs``.
    """
    rows = [_row(tool, [run for run in runs if run["tool"] == tool], steps, f"{clock}_s")
            for tool in tools]
    medians = {row["tool"]: row["median_s"] for row in rows}
    for row in rows:
        for key, reference in (("x_reference", REFERENCE), ("x_trainwise", TRAINWISE)):
            base = medians.get(reference)
            row[key] = row["median_s"] / base if row["median_s"] and base else None
    return rows


def _row(tool: str, runs: list[dict], steps: int, key: str) -> dict:
    good = [run for run in runs if "error" not in run]
    row = {"tool": tool, "runs": len(runs), "ok": len(good), "median_s": None, "spread": None,
           "us_per_step": None, "val_loss": None, "peak_rss_mb": None, "train_rss_mb": None,
           "device": None, "errors": sorted({run["error"] for run in runs if "error" in run})}
    if not good:
        return row
    walls = [run[key] for run in good]
    row.update(median_s=median(walls), spread=(max(walls) - min(walls)) / median(walls),
               us_per_step=median(walls) / steps * 1e6,
               val_loss=median(run["val_loss"] for run in good),
               peak_rss_mb=max(run["peak_rss_mb"] for run in good),
               device=", ".join(sorted({run["device"] for run in good})))
    if all(run.get("rss_before_mb") is not None for run in good):
        row["train_rss_mb"] = max(run["peak_rss_mb"] - run["rss_before_mb"] for run in good)
    return row


def markdown(result: dict) -> str:
    """The results page of one scenario (see ``run.py`` for the ``result`` keys)."""
    lines = [f"## Scenario {result['scenario']['number']}: {result['scenario']['title']}", ""]
    if result.get("skipped"):
        return "\n".join([*lines, f"skipped: {result['skipped']}", ""])
    settings = result["settings"]
    lines += [f"- {note}" for note in result["scenario"]["notes"]]
    lines += [
        f"- epochs {settings['epochs']}, batch {settings['batch_size']}, "
        f"{settings['steps']} optimizer steps per repeat, {settings['repeats']} repeat(s) "
        f"round-robin, device asked: {settings['device']}, init: {settings['init']}, "
        f"seed {settings['seed']}, threads: {settings['threads'] or 'library default'}, "
        f"warm-up: {'yes' if settings['warmup'] else 'no'}, clock: {settings.get('clock', 'wall')}",
        f"- machine: {result['machine']['summary']}; load average "
        f"{result['machine']['load_start']} at start, {result['machine']['load_end']} at end",
        "",
        f"| tool | device | median s ({settings.get('clock', 'wall')}) | spread | µs/step "
        "| × fused loop | × trainwise | val loss | peak RSS MB (train +MB) | ok/runs |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [_table_line(row) for row in result["summary"]]
    what = ("mean cross-entropy of the final model on the validation samples"
            if settings.get("n_classes") else
            "MSE of the final model on the validation rows, standardised target")
    lines += ["", f"Val loss: {what}"
              + (" (best rate of the sweep)." if settings["sweep"] else ".")]
    lines += [f"- **{name}**: {TOOLS[name].summary}" for name in result["settings"]["tools"]]
    for name, reason in result.get("unavailable", {}).items():
        lines.append(f"- {name}: skipped: {reason}")
    for row in result["summary"]:
        lines += [f"- {row['tool']} failed: {error}" for error in row["errors"]]
    if any(False in run.get("same_init", []) for run in result["runs"]):
        lines.append("- warning: trainwise.fit did not draw the shared initial weights "
                     "(its model-building order changed; see scenarios.initial_weights)")
    return "\n".join(lines) + "\n"


def _table_line(row: dict) -> str:
    memory = (f"{row['peak_rss_mb']:.0f}" + (f" (+{max(row['train_rss_mb'], 0):.0f})"
              if row["train_rss_mb"] is not None else "")) if row["peak_rss_mb"] else "–"
    cells = [row["tool"], row["device"] or "–", _number(row["median_s"], ".2f"),
             _number(row["spread"], ".0%"), _number(row["us_per_step"], ".0f"),
             _number(row["x_reference"], ".2f"), _number(row["x_trainwise"], ".2f"),
             _number(row["val_loss"], ".4f"), memory, f"{row['ok']}/{row['runs']}"]
    return "| " + " | ".join(cells) + " |"


def _number(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(markdown(json.loads(Path(name).read_text())))
