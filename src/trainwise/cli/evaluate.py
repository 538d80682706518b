"""``trainwise evaluate RUN --data labelled.csv``"""

from __future__ import annotations

import json

import click

from trainwise.cli.options import runs_dir_option, unseen_categories_option


@click.command()
@click.argument("run")
@click.option("--data", "data_path", required=True, type=click.Path(),
              help="Tables: CSV or Parquet rows with the training columns and the target. "
                   "Frames and images: a labelled folder, file, or .npz.")
@runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@unseen_categories_option
def evaluate(run: str, data_path: str, runs_dir: str, as_json: bool,
             unseen_categories: str | None) -> None:
    """Print RUN's metrics on another labelled file."""
    from trainwise.cli.console import echo_warnings
    from trainwise.cli.display import print_metrics
    from trainwise.errors import UnseenCategoryWarning
    from trainwise.run import load_run

    loaded = load_run(run, runs_dir)
    raw = loaded.inputs.read(data_path, "--data", loaded.config, labelled=True)
    with echo_warnings(UnseenCategoryWarning):
        metrics = loaded.evaluate(raw, f"--data '{data_path}'", unseen_categories)
    if as_json:
        click.echo(json.dumps(metrics, indent=2))
    else:
        print_metrics(metrics, title=f"{loaded.id} on {data_path}")
