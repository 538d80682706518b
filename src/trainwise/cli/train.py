"""``trainwise train CONFIG [key=value ...]``"""

from __future__ import annotations

import sys

import click

from trainwise.cli.options import runs_dir_option


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
@runs_dir_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(config: str, overrides: tuple[str, ...], runs_dir: str, quiet: bool) -> None:
    """Train a model from CONFIG (a YAML file), with optional key=value OVERRIDES.

    \b
    Example: trainwise train examples/auto_mpg.yaml train.lr=0.003 model.hidden=[32,32]
    """
    from trainwise.cli.display import exit_code, print_results
    from trainwise.session import fit

    run = fit(config, list(overrides), runs_dir=runs_dir, progress=not quiet)
    print_data_warnings(run)
    print_results(run)
    sys.exit(exit_code(run.status))


def print_data_warnings(run) -> None:
    """The warnings data_summary.json records (e.g. test rows next to training rows)."""
    from rich.markup import escape

    from trainwise.cli.console import make_console

    console = make_console()
    for text in run.run_dir.read_json("data_summary.json").get("warnings", []):
        # escape: the text may hold [lon_min, ...] boxes, which rich would read as markup.
        console.print(f"[yellow]WARNING[/yellow] {escape(text)}", highlight=False)
