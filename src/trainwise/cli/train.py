"""``trainwise train CONFIG [key=value ...]``"""

from __future__ import annotations

import sys

import click

from trainwise.cli.options import runs_dir_option


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
@runs_dir_option
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs to train (train.epochs).")
@click.option("--lr", type=float, default=None, help="Learning rate (train.lr).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Samples per batch (train.batch_size).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--nproc", type=click.IntRange(min=1), default=None,
              help="Data-parallel training with N processes on this machine (torchrun).")
def train(config: str, overrides: tuple[str, ...], runs_dir: str, epochs: int | None,
          lr: float | None, batch_size: int | None, quiet: bool, nproc: int | None) -> None:
    """Train a model from CONFIG (a YAML file), with optional key=value OVERRIDES.

    \b
    Example: trainwise train examples/auto_mpg.yaml --epochs 50 model.hidden=[32,32]
    Data-parallel: trainwise train CONFIG --nproc 2
              (= torchrun --standalone --nproc_per_node=2 -m trainwise train CONFIG)
    """
    # The options are shorthands for their dotted keys, and win over the same key given as
    # an override, as the more specific spelling.
    shorthands = [f"train.{key}={value}" for key, value in
                  (("epochs", epochs), ("lr", lr), ("batch_size", batch_size)) if value is not None]
    from trainwise.config.load import load_config

    # The config first: a typo is told in a blink, before torch and the session load (and
    # once, not by every rank after torchrun has started them).
    cfg = load_config(config, [*overrides, *shorthands])
    if nproc is not None and nproc > 1:
        from trainwise.cli.launch import relaunch_with_torchrun, without_nproc
        from trainwise.distributed.checks import refuse_unsupported

        refuse_unsupported(cfg)
        sys.exit(relaunch_with_torchrun(nproc, without_nproc(sys.argv[1:])))
    from trainwise.cli.display import exit_code, print_results
    from trainwise.session import fit

    run = fit(cfg, runs_dir=runs_dir, progress=not quiet, handle_signals=True, plots=True)
    from trainwise.cli.launch import exit_rank, is_rank

    if run is None:  # a data-parallel rank > 0: rank 0 reports
        exit_rank(0)
    print_data_warnings(run)
    print_results(run)
    if is_rank():
        exit_rank(exit_code(run.status))
    sys.exit(exit_code(run.status))


def print_data_warnings(run) -> None:
    """The warnings data_summary.json records (e.g. test rows next to training rows)."""
    from rich.markup import escape

    from trainwise.cli.console import make_console

    console = make_console()
    for text in run.run_dir.read_json("data_summary.json").get("warnings", []):
        # escape: the text may hold [lon_min, ...] boxes, which rich would read as markup.
        console.print(f"[yellow]WARNING[/yellow] {escape(text)}", highlight=False)
