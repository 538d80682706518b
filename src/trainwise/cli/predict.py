"""``trainwise predict RUN --input new.csv --output predictions.csv``"""

from __future__ import annotations

import click

from trainwise.cli.options import runs_dir_option, unseen_categories_option


@click.command()
@click.argument("run")
@click.option("--input", "input_path", required=True, type=click.Path(),
              help="Tables: CSV or Parquet rows with the training columns (the target may "
                   "be absent). Frames and images: a folder, a file, or an .npz.")
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False),
              help="CSV to write: the input rows plus prediction columns.")
@runs_dir_option
@unseen_categories_option
def predict(run: str, input_path: str, output_path: str, runs_dir: str,
            unseen_categories: str | None) -> None:
    """Predict for raw rows or files with RUN's model and its saved preprocessing."""
    import pandas as pd

    from trainwise.atomic import write_text_atomic
    from trainwise.cli.console import echo_warnings
    from trainwise.errors import UnseenCategoryWarning
    from trainwise.run import load_run

    loaded = load_run(run, runs_dir)
    raw = loaded.inputs.read(input_path, "--input", loaded.config)
    with echo_warnings(UnseenCategoryWarning):
        predictions = loaded.predict(raw, f"--input '{input_path}'", unseen_categories)
    written = pd.concat([loaded.inputs.identify(raw), predictions], axis=1)
    write_text_atomic(output_path, written.to_csv(index=False))
    click.echo(f"Wrote {len(predictions)} predictions to {output_path}")
