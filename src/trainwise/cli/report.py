"""``trainwise report RUN [--output PATH]``"""

from __future__ import annotations

import click

from trainwise.cli.options import runs_dir_option


@click.command()
@click.argument("run")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Where the HTML file goes.  [default: RUN/report.html]")
@runs_dir_option
def report(run: str, output: str | None, runs_dir: str) -> None:
    """Write RUN's record as one self-contained HTML page and print its path.

    \b
    The page needs nothing else to open: plots are embedded, no fonts or scripts are fetched.
    Example: trainwise report last --output auto_mpg.html
    """
    from trainwise.reports.html import write_report
    from trainwise.tracking.run_dir import resolve_run

    run_dir = resolve_run(run, runs_dir)
    click.echo(str(write_report(run_dir.path, output)))
