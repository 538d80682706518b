"""``trainwise show RUN``"""

from __future__ import annotations

import click

from trainwise.cli.options import runs_dir_option


@click.command()
@click.argument("run")
@runs_dir_option
def show(run: str, runs_dir: str) -> None:
    """Print RUN's config, data summary, model summary and results."""
    from trainwise.cli.console import make_console
    from trainwise.cli.display import print_results
    from trainwise.tracking.run_dir import resolve_run

    run_dir = resolve_run(run, runs_dir)
    console = make_console()
    console.rule(f"run {run_dir.run_id}")
    console.print("[bold]Config[/bold]")
    console.print(run_dir.file("config.yaml").read_text(), highlight=False)
    console.print("[bold]Data[/bold]")
    for key, value in run_dir.read_json("data_summary.json").items():
        console.print(f"  {key}: {value}", highlight=False)
    console.print("[bold]Model[/bold]")
    console.print(run_dir.read_json("model_summary.json")["text"], highlight=False)
    _print_init_report(run_dir, console)
    from trainwise.run import Run

    print_results(Run(run_dir), console, status=_observed(run_dir, runs_dir))


def _observed(run_dir, runs_dir) -> dict:
    """status.json, with ``interrupted`` for a run marked running whose process is gone."""
    from pathlib import Path

    from trainwise.tracking.liveness import observed_run_status
    from trainwise.tracking.store import RunStore

    status = run_dir.read_json("status.json")
    store_path = Path(runs_dir) / "trainwise.db"
    row = RunStore(store_path).get_run(run_dir.run_id) if store_path.is_file() else None
    return {**status, "status": observed_run_status(run_dir.path, status["status"], row)}


def _print_init_report(run_dir, console) -> None:
    """What ``model.init_from`` loaded and skipped, for runs that started from another one."""
    from trainwise.training.transfer import REPORT_FILE, describe_init_report

    if run_dir.exists(REPORT_FILE):
        console.print("[bold]Initialised from[/bold]")
        console.print(describe_init_report(run_dir.read_json(REPORT_FILE)), highlight=False,
                      markup=False)
