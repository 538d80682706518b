"""``trainwise runs``"""

from __future__ import annotations

from pathlib import Path

import click

from trainwise.cli.options import runs_dir_option


@click.command()
@runs_dir_option
def runs(runs_dir: str) -> None:
    """List runs: id, name, task, status, best monitored value, epochs, duration."""
    from rich.table import Column, Table

    from trainwise.cli.console import make_console

    from trainwise.tracking.store import RunStore

    store_path = Path(runs_dir) / "trainwise.db"
    if not store_path.is_file():
        click.echo(f"No runs yet in '{runs_dir}'. Start one with: trainwise train CONFIG")
        return
    table = Table("name", "task", "status", "best", "epochs", "duration")
    table.columns.insert(0, Column("id", no_wrap=True))
    for row in RunStore(store_path).list_runs():
        best = "" if row["best_value"] is None else (
            f"{row['monitor']} {row['best_value']:.4g} @ {row['best_epoch']}")
        duration = "" if row["duration_s"] is None else f"{row['duration_s']:.1f}s"
        table.add_row(row["id"], row["name"] or "", row["task"] or "", row["status"] or "",
                      best, str(row["epochs"] or 0), duration)
    make_console().print(table)
