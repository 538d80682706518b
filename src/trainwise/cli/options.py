"""Options shared by several subcommands."""

import click

runs_dir_option = click.option(
    "--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False),
    help="Folder holding run directories and the run store (trainwise.db).")

unseen_categories_option = click.option(
    "--unseen-categories", type=click.Choice(["warn", "error"]), default=None,
    help="A category never seen in training: warn (and predict) or stop with an error. "
         "Default: the run's data.unseen_categories (warn).")
