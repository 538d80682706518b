"""``trainwise sweep CONFIG --grid key=v1,v2 [--grid ...] [--seeds N]``"""

from __future__ import annotations

import click

from trainwise.cli.options import runs_dir_option


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
@click.option("--grid", "grid_options", multiple=True, metavar="KEY=V1,V2",
              help="A config path and its values; repeat for more keys (every combination "
                   "runs). Adds to the config's sweep.grid.")
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="Repeat every point with this many seeds and report mean ± std.")
@click.option("--mode", type=click.Choice(["auto", "batched", "sequential", "parallel"]),
              default=None, help="auto (default): one batched model when the runs allow it.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes for --mode parallel.")
@runs_dir_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep(config: str, overrides: tuple[str, ...], grid_options: tuple[str, ...],
          seeds: int | None, mode: str | None, workers: int | None, runs_dir: str,
          quiet: bool) -> None:
    """Train one run per grid point (and seed) of CONFIG, then rank them.

    Runs that differ only in learning rate, weight decay, dropout or seed train as one batched
    model; others one after another (or in processes with --mode parallel). Every run keeps
    its own record; the sweep's table, Markdown and overlay plot go to RUNS_DIR/sweeps/.

    \b
    Example: trainwise sweep examples/auto_mpg.yaml --grid train.lr=0.01,0.003,0.001 --seeds 3
    """
    from trainwise.sweep import sweep as run_sweep
    from trainwise.sweep.grid import grid_from_options

    result = run_sweep(config, grid_from_options(list(grid_options)), seeds=seeds, mode=mode,
                       workers=workers, overrides=list(overrides), runs_dir=runs_dir,
                       progress=not quiet)
    print_sweep(result)


def print_sweep(result) -> None:
    """A sweep's plan, its results table, the best run and where the files are."""
    from rich.markup import escape

    from trainwise.cli.console import make_console
    from trainwise.sweep.results import as_markdown

    console = make_console()
    console.print(f"[bold]{len(result.runs)} runs[/bold], {escape(result.plan.reason)}")
    # With seeds, the points (mean ± std over seeds); else the members, best first.
    shown = result.points if result.points is not None else result.table
    console.print(as_markdown(shown), highlight=False, markup=False)
    console.print(f"best: {result.best.id}")
    console.print(f"results: {result.path / 'results.md'}  plot: "
                  f"{result.path / 'plots' / 'overlay.png'}", highlight=False)

