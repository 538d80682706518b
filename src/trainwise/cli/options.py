"""Options shared by several subcommands."""

import click

runs_dir_option = click.option(
    "--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False),
    help="Folder holding run directories and the run store (trainwise.db).")
