"""Options shared by several subcommands."""

import importlib

import click

runs_dir_option = click.option(
    "--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False),
    help="Folder holding run directories and the run store (trainwise.db).")

store_option = click.option(
    "--store", default=None, metavar="URL",
    help="The run store to read: postgresql://user@host:5432/database (one store for many "
         "machines) or sqlite:///path/to/trainwise.db. Default: $TRAINWISE_STORE if set, else "
         "trainwise.db in the runs folder.")

unseen_categories_option = click.option(
    "--unseen-categories", type=click.Choice(["warn", "error"]), default=None,
    help="A category never seen in training: warn (and predict) or stop with an error. "
         "Default: the run's data.unseen_categories (warn).")


def refuse_foreign_folder(generator: str):
    """A click callback that refuses (exit 2) an output folder holding files the dataset
    generator ``generator`` (a module with ``out_dir_problem(path)``) did not write. The
    module is imported only when the command runs, so ``--help`` stays fast."""
    def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
        problem = importlib.import_module(generator).out_dir_problem(value)
        if problem:
            raise click.BadParameter(problem, ctx=ctx, param=param)
        return value
    return check
