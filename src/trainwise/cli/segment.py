"""``trainwise segment RUN --raster SCENE.tif --out MAP.tif [--stride N] [--tta] ...``"""

from __future__ import annotations

import click

from trainwise.cli.options import runs_dir_option


@click.command()
@click.argument("run")
@click.option("--raster", "raster_path", required=True, type=click.Path(dir_okay=False),
              help="GeoTIFF scene with the bands the run trained on, in the same order.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="GeoTIFF to write: band 1 the class value of every pixel. For a run that "
                   "classifies chips (data.raster.points): a .csv table of chips, or a GeoTIFF "
                   "with one pixel per chip.")
@click.option("--stride", type=click.IntRange(min=1), default=None,
              help="Pixels between windows.  [default: half the run's chip size]")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Windows per forward pass.")
@click.option("--tta", is_flag=True,
              help="Average over the 8 flips and quarter turns of each window (8x slower; "
                   "for runs trained with data.augment hflip/vflip/rot90).")
@click.option("--probabilities", is_flag=True,
              help="Also write OUT_probabilities.tif: one float32 band per class.")
@click.option("--nodata", type=float, default=None,
              help="The scene's nodata value.  [default: the file's own, else the run's]")
@runs_dir_option
def segment(run: str, raster_path: str, out_path: str, stride: int | None, batch_size: int,
            tta: bool, probabilities: bool, nodata: float | None, runs_dir: str) -> None:
    """Map a whole scene with RUN's segmentation model (data.kind: raster).

    \b
    Overlapping windows of the run's chip size are blended with a smooth (Hann) weight, so
    the map has no seams; pixels that are nodata in any band are nodata (255) in the map.
    The map keeps the scene's CRS and grid and is written a row of tiles at a time, so
    memory does not grow with the scene's height.
    Example: trainwise segment last --raster scene/scene.tif --out maps/landcover.tif
    """
    from trainwise.errors import UserError
    from trainwise.inputs.raster.mapping import segment_scene
    from trainwise.run import load_run

    loaded = load_run(run, runs_dir)
    kind = loaded.config.data.kind
    if kind != "raster":
        raise UserError(f"run {loaded.id} is a data.kind: {kind} run; trainwise segment maps "
                        "scenes with a raster segmentation run (data.kind: raster). Use "
                        f"`trainwise predict {run} --input ... --output ...` for this run")
    if loaded.preprocessor.task == "classification":  # a class per chip (data.raster.points)
        from trainwise.inputs.raster.chip_map import classify_chips

        summary = classify_chips(loaded.model, loaded.preprocessor, raster_path, out_path,
                                 stride=stride, batch_size=batch_size)
        click.echo(f"Wrote {summary['path']}: {summary['classified']} of {summary['chips']} "
                   f"chips of {summary['chip']} px classified (stride {summary['stride']})")
        return
    augment = loaded.config.data.augment
    if tta and not (augment.hflip or augment.vflip or augment.rot90):
        click.echo(f"Note: run {loaded.id} trained without data.augment hflip, vflip or rot90, "
                   "so --tta averages over views it never saw; compare with a map without it")
    summary = segment_scene(loaded.model, loaded.preprocessor, raster_path, out_path,
                            stride=stride, batch_size=batch_size, tta=tta,
                            probabilities=probabilities, nodata=nodata,
                            tags={"TRAINWISE_RUN": loaded.id})
    extra = f" and probabilities to {summary['probabilities']}" if probabilities else ""
    click.echo(f"Wrote {summary['path']}{extra}: {summary['width']}x{summary['height']} "
               f"pixels ({summary['valid_pixels']} mapped, {summary['nodata_pixels']} nodata), "
               f"{summary['windows']} windows of {summary['chip']} px at stride "
               f"{summary['stride']}{' with TTA x8' if tta else ''}, in "
               f"{summary['seconds']:.1f} s ({summary['pixels_per_second'] / 1e6:.2f} "
               "Mpixel/s)")
