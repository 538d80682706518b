"""``trainwise datasets``"""

import click


@click.command()
def datasets() -> None:
    """List the bundled datasets (usable as data.source)."""
    from trainwise.data.datasets import BUNDLED_DATASETS

    for name, (description, _) in BUNDLED_DATASETS.items():
        click.echo(f"{name:15s} {description}")
