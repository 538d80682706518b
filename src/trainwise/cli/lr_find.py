"""``trainwise lr-find CONFIG [key=value ...]``"""

from __future__ import annotations

import click

from trainwise.cli.options import runs_dir_option


@click.command("lr-find")
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("overrides", nargs=-1)
@runs_dir_option
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="PNG of loss against learning rate (default: <runs-dir>/lr-find-<name>.png).")
def lr_find(config: str, overrides: tuple[str, ...], runs_dir: str, output: str | None) -> None:
    """Run the LR range test for CONFIG and suggest learning rates; trains no run.

    The rate ramps exponentially over train.lr_finder's range; the model and optimizer are
    restored afterwards. `train.lr: auto` in a config does the same before training.
    """
    from pathlib import Path

    from trainwise.reports.lr_finder_plot import plot_lr_finder
    from trainwise.lr_choice import probe_lr

    cfg, result = probe_lr(config, list(overrides), runs_dir)
    for rule, lr in result.suggestions.items():
        mark = "  <- train.lr: auto uses this" if rule == result.rule and result.chosen else ""
        click.echo(f"{rule:12s} {'-' if lr is None else f'{lr:.3g}'}{mark}")
    click.echo(result.reason)
    path = Path(output) if output else Path(runs_dir) / f"lr-find-{cfg.name}.png"
    click.echo(f"Plot: {plot_lr_finder(result, path)}")
