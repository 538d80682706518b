"""``trainwise export RUN --format onnx|pt2 [--out FILE]``"""

from __future__ import annotations

import click

from trainwise.cli.options import runs_dir_option


@click.command()
@click.argument("run")
@click.option("--format", "format_", required=True, type=click.Choice(["onnx", "pt2"]),
              help="onnx: torch's ONNX exporter (needs pip install 'trainwise[onnx]'); "
                   "pt2: torch.export.save, for torch.export.load.")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="File to write. Default: model.onnx or model.pt2 in the run's folder.")
@click.option("--size", type=click.Choice(["auto", "fixed", "dynamic"]), default="auto",
              show_default=True,
              help="Frames and images: height and width (or length) dynamic where the model "
                   "pools globally (auto), always fixed, or dynamic or refuse.")
@click.option("--check-input", "check_input", default=None, type=click.Path(),
              help="Raw inputs to check the export on, read like predict --input. Default: "
                   "the run's test split.")
@runs_dir_option
def export(run: str, format_: str, out: str | None, size: str, check_input: str | None,
           runs_dir: str) -> None:
    """Export RUN's preprocessing, model and output scaling as one graph on raw inputs.

    The exported file is checked against trainwise's own predictions before it is written;
    a difference beyond 1e-5 (plus 1e-5 of the value) writes nothing and exits with code 1.
    """
    from trainwise.export import ExportMismatch, export_run
    from trainwise.run import load_run

    loaded = load_run(run, runs_dir)
    try:
        result = export_run(loaded, format_, out, size, check_input)
    except ExportMismatch as err:
        raise click.ClickException(str(err)) from None
    shape = ", ".join(map(str, result.metadata["input_shape"]))
    click.echo(f"Wrote {result.path} ({result.format}, {result.size_bytes / 1024:.0f} KiB)")
    click.echo(f"  input  {result.graph_input.name} float32 ({shape})")
    click.echo(f"  output {', '.join(result.output_names)}")
    click.echo(f"  {result.parity.describe()}")
