"""``trainwise tune CONFIG [--trials N] [--storage URL] [--study NAME] [--batch K]``"""

from __future__ import annotations

import click

from trainwise.cli.options import runs_dir_option


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Trials the study should have, over every worker (tune.trials).")
@click.option("--storage", default=None, metavar="PATH|URL",
              help="A SQLite file or a postgresql:// URL shared by several workers "
                   "(tune.storage; default RUNS_DIR/tune.db).")
@click.option("--study", default=None, help="The study's name (tune.study; default the "
                                            "config's name).")
@click.option("--batch", type=click.IntRange(min=1), default=None,
              help="Trials asked at once, trained as one batched model when they allow it "
                   "(tune.batch).")
@click.option("--show", "show_only", is_flag=True,
              help="Only print (and rewrite) the study's results; train nothing.")
@runs_dir_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def tune(config: str, overrides: tuple[str, ...], trials: int | None, storage: str | None,
         study: str | None, batch: int | None, show_only: bool, runs_dir: str,
         quiet: bool) -> None:
    """Search CONFIG's tune.space: one run per trial, pruned when hopeless, then rank them.

    Start the same command on several machines with one --storage postgresql://... URL to
    share a study; each trial runs once, and a worker that dies leaves its trial FAIL (its run
    resumes with `trainwise resume`) while another worker runs a new one in its place. Results
    (trials.csv, results.md, plots) go to RUNS_DIR/tune/STUDY/.

    \b
    Example: trainwise tune examples/auto_mpg.yaml --trials 20
    """
    import optuna

    from trainwise.tune import show
    from trainwise.tune import tune as run_tune

    settings = {"trials": trials, "storage": storage, "study": study, "batch": batch}
    if show_only:
        result = show(config, list(overrides), runs_dir=runs_dir, **settings)
    else:
        # Our own lines say what each trial did; Optuna's INFO would repeat them.
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        result = run_tune(config, list(overrides), runs_dir=runs_dir, progress=not quiet,
                          **settings)
    print_tune(result)


def print_tune(result) -> None:
    """The trials table, the best trial, importances, pruning, and where the files are."""
    from rich.markup import escape

    from trainwise.cli.console import make_console
    from trainwise.sweep.results import as_markdown

    console = make_console()
    console.print(as_markdown(result.table), highlight=False, markup=False)
    best = result.best
    if best is None:
        console.print("no trial has completed yet")
    else:
        console.print(f"[bold]best[/bold]: trial {best['trial']}, value {best['value']:.6g}, "
                      f"run {escape(str(best['run']))}, params {escape(str(best['params']))}")
    if result.importances:
        shown = ", ".join(f"{key} {value:.2f}" for key, value in result.importances.items())
        console.print(f"importances: {escape(shown)}")
    else:
        console.print(escape(result.importance_note))
    pruning = result.pruning
    console.print(f"pruned: {pruning['pruned']} trials, {pruning['epochs_trained']} of "
                  f"{pruning['epochs_planned']} planned epochs trained "
                  f"({pruning['epochs_saved']} saved)")
    console.print(f"results: {result.path / 'results.md'}  plots: "
                  f"{result.path / 'plots'}", highlight=False)
