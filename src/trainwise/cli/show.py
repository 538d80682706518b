"""``trainwise show RUN``"""

from __future__ import annotations

import json
import math

import click

from trainwise.cli.options import runs_dir_option, store_option

# ``--format json``: the same information for scripts, on stdout.
format_option = click.option("--format", "format_", type=click.Choice(["table", "json"]),
                             default="table", show_default=True,
                             help="table for people, json for scripts.")


@click.command()
@click.argument("run")
@runs_dir_option
@store_option
@format_option
@click.option("--config", "full_config", is_flag=True,
              help="Also print the whole resolved config (by default: only what differs "
                   "from the defaults).")
@click.option("--model", "model_table", is_flag=True, help="Also print every layer's shape.")
def show(run: str, runs_dir: str, store: str | None, format_: str, full_config: bool,
         model_table: bool) -> None:
    """Print RUN's results and diagnosis, then its data, model and config in brief.

    Reads the run's files only (no model is built), so it answers at once.
    """
    from trainwise.cli.console import make_console
    from trainwise.cli.display import print_results
    from trainwise.cli.run_summary import data_lines, model_lines, print_config
    from trainwise.run_files import RunFiles
    from trainwise.tracking.run_dir import resolve_run

    run_dir = resolve_run(run, runs_dir)
    if format_ == "json":
        click.echo(to_json(run_object(run_dir, _observed(run_dir, runs_dir, store))))
        return
    record = RunFiles(run_dir)
    console = make_console()
    console.rule(f"run {run_dir.run_id}")
    print_results(record, console, status=_observed(run_dir, runs_dir, store))
    console.print("[bold]Data[/bold]")
    for line in data_lines(run_dir.read_json("data_summary.json")):
        console.print(f"  {line}", highlight=False, markup=False)
    console.print("[bold]Model[/bold]")
    summary = run_dir.read_json("model_summary.json")
    for line in model_lines(summary, record.raw_config.get("model", {})):
        console.print(f"  {line}", highlight=False, markup=False)
    if model_table:
        console.print(summary["text"], highlight=False)
    _print_init_report(run_dir, console)
    print_config(record.raw_config, console, full_config)


def run_object(run_dir, status: dict) -> dict:
    """What the tables show, as plain data: config, status, data and model summaries,
    metrics per split, a summary of the history, the diagnosis's findings."""
    from trainwise.run_files import INIT_REPORT_FILE as REPORT_FILE
    from trainwise.run_files import RunFiles

    run = RunFiles(run_dir)
    history = run.history
    return {
        "id": run.id,
        "path": str(run.path.resolve()),
        "config": run.raw_config,
        "status": status,
        "data": run_dir.read_json("data_summary.json"),
        "model": run_dir.read_json("model_summary.json"),
        "init_from": run_dir.read_json(REPORT_FILE) if run_dir.exists(REPORT_FILE) else None,
        "metrics": run.metrics,
        "history": {"epochs": len(history), "keys": list(history[-1]) if history else [],
                    "first": history[0] if history else None,
                    "last": history[-1] if history else None},
        "findings": run.findings,
    }


def to_json(value) -> str:
    """``value`` as strict JSON: NaN and infinities (a diverged run's losses) become null,
    which every JSON reader accepts and Python's ``NaN`` is not."""
    return json.dumps(_finite(value), indent=2)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _observed(run_dir, runs_dir: str, store: str | None) -> dict:
    """status.json, with ``interrupted`` for a run marked running whose process is gone."""
    from trainwise.tracking.liveness import observed_run_status
    from trainwise.tracking.store import RunStore
    from trainwise.tracking.store_url import choose_store, sqlite_file

    status = run_dir.read_json("status.json")
    if status["status"] != "running":  # only a live-looking run needs the store's heartbeat
        return status
    location = choose_store(runs_dir, store)
    file = sqlite_file(location)
    missing = file is not None and not file.is_file()  # reading must not create a store
    row = None if missing else RunStore(location).get_run(run_dir.run_id)
    return {**status, "status": observed_run_status(run_dir.path, status["status"], row)}


def _print_init_report(run_dir, console) -> None:
    """What ``model.init_from`` loaded and skipped, for runs that started from another one."""
    from trainwise.run_files import INIT_REPORT_FILE

    if run_dir.exists(INIT_REPORT_FILE):
        from trainwise.training.transfer import describe_init_report

        console.print("[bold]Initialised from[/bold]")
        console.print(describe_init_report(run_dir.read_json(INIT_REPORT_FILE)), highlight=False,
                      markup=False)
