"""``trainwise show RUN``"""

from __future__ import annotations

import click

from trainwise.cli.options import runs_dir_option, store_option


@click.command()
@click.argument("run")
@runs_dir_option
@store_option
def show(run: str, runs_dir: str, store: str | None) -> None:
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

    print_results(Run(run_dir), console, status=_observed(run_dir, runs_dir, store))


def _observed(run_dir, runs_dir: str, store: str | None) -> dict:
    """status.json, with ``interrupted`` for a run marked running whose process is gone."""
    from trainwise.tracking.liveness import observed_run_status
    from trainwise.tracking.store import RunStore
    from trainwise.tracking.store_url import choose_store, sqlite_file

    status = run_dir.read_json("status.json")
    location = choose_store(runs_dir, store)
    file = sqlite_file(location)
    missing = file is not None and not file.is_file()  # reading must not create a store
    row = None if missing else RunStore(location).get_run(run_dir.run_id)
    return {**status, "status": observed_run_status(run_dir.path, status["status"], row)}


def _print_init_report(run_dir, console) -> None:
    """What ``model.init_from`` loaded and skipped, for runs that started from another one."""
    from trainwise.training.transfer import REPORT_FILE, describe_init_report

    if run_dir.exists(REPORT_FILE):
        console.print("[bold]Initialised from[/bold]")
        console.print(describe_init_report(run_dir.read_json(REPORT_FILE)), highlight=False,
                      markup=False)
