"""``trainwise make-scene OUT [--size 512] [--bands 6] [--seed 0]``"""

from __future__ import annotations

import click

from trainwise.cli.options import refuse_foreign_folder


@click.command("make-scene")
@click.argument("out", type=click.Path(),
                callback=refuse_foreign_folder("trainwise.datasets.scene"))
@click.option("--size", type=click.IntRange(min=32), default=512, show_default=True,
              help="Pixels per side (10 m each).")
@click.option("--bands", type=click.IntRange(min=3, max=16), default=6, show_default=True,
              help="Spectral bands; 6 are blue, green, red, nir, swir1, swir2.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Drives every draw; the same options give identical files.")
def make_scene(out: str, size: int, bands: int, seed: int) -> None:
    """Write a synthetic multi-band scene with known land cover, for segmentation (UNet).

    \b
    OUT/scene.tif    uint16 surface reflectance x 10000, SIZE x SIZE x BANDS, nodata 0
                     (EPSG:32633, 10 m pixels, 256 x 256 tiles)
    OUT/labels.tif   uint8 class per pixel on the same grid, nodata 255
    OUT/classes.csv  value,name: water, forest, grassland, cropland, built-up
    OUT/README.txt   what the files are
    Cropland has grassland's mean spectrum and differs only by its striped texture, so a
    per-pixel model cannot tell them apart; built-up is rare (~2 %). Mixed pixels at borders,
    correlated noise, a cloud with its shadow and a nodata wedge make it look real.
    A previous make-scene output in OUT is replaced; any other non-empty OUT is refused.
    Example: trainwise make-scene scene --size 2048 --seed 1
    """
    from trainwise.datasets.scene import make_scene as write_scene

    info = write_scene(out, size=size, bands=bands, seed=seed)
    shares = ", ".join(f"{name} {share:.1%}" for name, share in info["class_shares"].items())
    click.echo(f"Wrote a {size} x {size} scene of {bands} bands ({', '.join(info['bands'])}) "
               f"to {info['scene']},\nlabels to {info['labels']} (classes in "
               f"{info['classes_csv']}, see {info['readme']}).\n"
               f"Class shares of the valid pixels: {shares}; "
               f"{info['nodata_pixels']} nodata pixels.")
