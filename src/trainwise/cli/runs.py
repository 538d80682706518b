"""``trainwise runs``"""

from __future__ import annotations

import click

from trainwise.cli.options import runs_dir_option, store_option
from trainwise.cli.show import format_option

# The store's columns ``--format json`` gives for each run (the process fields stay inside).
RUN_FIELDS = ("id", "name", "task", "status", "reason", "monitor", "best_value", "best_epoch",
              "epochs", "duration_s", "path", "created_at", "updated_at")


@click.command()
@runs_dir_option
@store_option
@format_option
def runs(runs_dir: str, store: str | None, format_: str) -> None:
    """List runs: id, name, task, status, best monitored value, epochs, duration.

    A run marked running whose process is gone shows as interrupted, with the command that
    resumes it. ``--format json`` prints one JSON array of run objects instead.
    """
    from rich.table import Column, Table

    from trainwise.cli.console import make_console

    from trainwise.tracking.liveness import observed_status
    from trainwise.tracking.store import RunStore
    from trainwise.tracking.store_url import choose_store, sqlite_file

    location = choose_store(runs_dir, store)
    file = sqlite_file(location)
    missing = file is not None and not file.is_file()  # reading must not create an empty store
    if format_ == "json":
        from trainwise.cli.show import to_json

        rows = [] if missing else RunStore(location).list_runs()
        click.echo(to_json([{**{key: row[key] for key in RUN_FIELDS},
                             "status": observed_status(row)} for row in rows]))
        return
    if missing:
        click.echo(f"No runs yet in '{file.parent}'. Start one with: trainwise train CONFIG")
        return
    table = Table("name", "task", "status", "best", "epochs", "duration")
    table.columns.insert(0, Column("id", no_wrap=True))
    interrupted = []  # their process is gone: say how to pick them up again
    for row in RunStore(location).list_runs():
        status = observed_status(row) or ""
        if status == "interrupted":
            interrupted.append(row["id"])
        best = "" if row["best_value"] is None else (
            f"{row['monitor']} {row['best_value']:.4g} @ {row['best_epoch']}")
        duration = "" if row["duration_s"] is None else f"{row['duration_s']:.1f}s"
        table.add_row(row["id"], row["name"] or "", row["task"] or "", status,
                      best, str(row["epochs"] or 0), duration)
    console = make_console()
    console.print(table)
    for run_id in interrupted:
        console.print(f"{run_id} was interrupted (its process is gone); resume it with: "
                      f"trainwise resume {run_id} --runs-dir {runs_dir}", highlight=False,
                      soft_wrap=True)
