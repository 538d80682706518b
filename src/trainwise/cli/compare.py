"""``trainwise compare RUN_OR_CONFIG ...``"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from trainwise.cli.options import runs_dir_option

CONFIG_SUFFIXES = (".yaml", ".yml")
MISSING = "-"
# Column titles for the test metrics comparison_table reports (see TEST_METRICS there).
TEST_TITLES = {"test_mae": "test MAE", "test_rmse": "test RMSE", "test_r2": "test R²",
               "test_accuracy": "test accuracy", "test_macro_f1": "test macro-F1"}


@click.command()
@click.argument("sources", nargs=-1, metavar="RUN_OR_CONFIG...")
@click.option("--output", type=click.Path(dir_okay=False),
              help="The PNG to write.  [default: <runs-dir>/compare-<date>-<time>.png]")
@runs_dir_option
@click.option("--quiet", is_flag=True, help="No line per trained config.")
def compare(sources: tuple[str, ...], output: str | None, runs_dir: str, quiet: bool) -> None:
    """Compare runs side by side; YAML configs among them are trained first.

    Each RUN_OR_CONFIG is a run (its path, id, a unique id prefix, or 'last') or a YAML
    config file. Prints the settings that differ and each run's results, and writes one
    plot with every run's curves overlaid.

    \b
    Example: trainwise compare examples/regimes/sgd_lr_*.yaml
             trainwise compare 20261121-090117 last --output lr.png
    """
    from trainwise.cli.console import make_console
    from trainwise.reports.compare import (comparison_table, differing_settings,
                                           labelled_histories, plot_comparison, run_configs,
                                           run_labels)

    _require_two(sources)
    console = make_console()
    runs = _collect_runs(sources, runs_dir, quiet, console)
    _require_distinct(runs, sources)
    settings = differing_settings(run_configs(runs))
    rows = comparison_table(runs)
    _print_settings(settings, [run.run_id for run in runs], console)
    _print_results(rows, run_labels(settings, [run.run_id for run in runs]), console)
    _note_mixed_tasks(rows, console)
    path = output or Path(runs_dir) / f"compare-{datetime.now():%Y%m%d-%H%M%S}.png"
    plot_comparison(labelled_histories(runs), path)
    console.print(f"Plot: {path}", highlight=False)


def _require_two(sources: tuple[str, ...]) -> None:
    from trainwise.errors import UserError

    if len(sources) < 2:
        raise UserError(f"compare needs at least two runs or configs, got {len(sources)}. Name "
                        "two or more, e.g. `trainwise compare RUN last` or `trainwise compare "
                        "a.yaml b.yaml` (see `trainwise runs` for run ids).")


def _require_distinct(runs: list, sources: tuple[str, ...]) -> None:
    from trainwise.errors import UserError

    if len(runs) < 2:
        raise UserError(f"{' and '.join(map(repr, sources))} all name run {runs[0].run_id}; "
                        "compare needs at least two different runs. Name another one "
                        "(see `trainwise runs`).")


def _is_config(source: str) -> bool:
    path = Path(source)
    return path.suffix.lower() in CONFIG_SUFFIXES and path.is_file()


def _collect_runs(sources: tuple[str, ...], runs_dir: str, quiet: bool, console) -> list:
    """The run directories in argument order, training each config (once) on the way.

    Every run reference and config is checked before the first training starts, so a typo in
    the last argument does not cost the time of training the others.
    """
    from trainwise.config.load import load_config

    configs = list(dict.fromkeys(source for source in sources if _is_config(source)))
    for config in configs:
        load_config(config)
    found = {source: _resolve(source, runs_dir) for source in sources if source not in configs}
    trained = {config: _train(config, f"{number}/{len(configs)}", runs_dir, quiet, console)
               for number, config in enumerate(configs, start=1)}
    runs = [trained[source] if source in trained else found[source] for source in sources]
    # The same run named twice ('last' and its id) is one run.
    return list({run.path.resolve(): run for run in runs}.values())


def _resolve(source: str, runs_dir: str):
    """The run ``source`` names; a mistyped config path is reported as a missing config."""
    from trainwise.config.load import load_config
    from trainwise.errors import UserError
    from trainwise.tracking.run_dir import resolve_run

    try:
        return resolve_run(source, runs_dir)
    except UserError:
        if Path(source).suffix.lower() in CONFIG_SUFFIXES:
            load_config(source)  # raises: "config file '...' does not exist; check the path"
        raise


def _train(config: str, position: str, runs_dir: str, quiet: bool, console):
    from trainwise.cli.display import exit_code
    from trainwise.session import fit

    with console.status(f"training {config} ({position})"):
        run = fit(config, runs_dir=runs_dir, progress=False, handle_signals=True)
    status = run.status
    if status["status"] == "stopped":
        console.print(f"Stopped while training {config}: run {run.id} stopped after "
                      f"{status['epochs']} epochs. Resume it with: trainwise resume {run.path}",
                      highlight=False)
        sys.exit(exit_code(status))
    if not quiet:
        best = (f", best {status['monitor']} {status['best_value']:.4g} at epoch "
                f"{status['best_epoch']}" if status.get("best_epoch") else "")
        console.print(f"trained {config} ({position}) -> {run.id}: {status['status']} after "
                      f"{status['epochs']} epochs in {status['duration_s']:.1f}s{best}",
                      highlight=False)
    return run.run_dir


def _print_settings(settings: dict, run_ids: list[str], console) -> None:
    """Differing settings down, runs across."""
    from rich.table import Table

    from trainwise.reports.compare import format_value

    if not settings:
        console.print("The runs' settings are all the same (apart from name).")
        return
    table = Table("setting", *run_ids, title="settings that differ")
    for key, values in settings.items():
        table.add_row(key, *(format_value(values[run_id]) if run_id in values else "(not set)"
                             for run_id in run_ids))
    console.print(table, highlight=False)


def _print_results(rows: list[dict], labels: dict[str, str], console) -> None:
    """One row per run: how it trained and what it scored on the test split."""
    from rich.table import Table

    # The legend's names for the runs, so the table and the plot read alike.
    named = any(label != run_id for run_id, label in labels.items())
    monitors = {row["monitor"] for row in rows if row["monitor"]}
    best_title = f"best {monitors.pop()}" if len(monitors) == 1 else "best"
    test_keys = [key for key in TEST_TITLES if any(key in row for row in rows)]
    table = Table("run", *(["settings"] if named else []), "status", "epochs", "best epoch",
                  best_title, "final val_loss", *(TEST_TITLES[key] for key in test_keys), "time",
                  title="results")
    for row in rows:
        best = _number(row["best_value"], ".4g")
        if best_title == "best" and row["best_value"] is not None:
            best = f"{row['monitor']} {best}"
        table.add_row(row["run"], *([labels[row["run"]]] if named else []),
                      row["status"] or MISSING, str(row["epochs"] or 0),
                      str(row["best_epoch"] or MISSING), best,
                      _number(row["final_val_loss"], ".4g"),
                      *(_number(row.get(key), ".4g") for key in test_keys),
                      _number(row["duration_s"], ".1f", "s"))
    console.print(table, highlight=False)


def _note_mixed_tasks(rows: list[dict], console) -> None:
    tasks = list(dict.fromkeys(row["task"] for row in rows))
    if len(tasks) > 1:
        console.print(f"Note: these runs solve different tasks ({', '.join(tasks)}); their "
                      "losses and metrics are not on one scale, so compare them with care.",
                      highlight=False)


def _number(value, spec: str, unit: str = "") -> str:
    return MISSING if value is None else f"{value:{spec}}{unit}"
