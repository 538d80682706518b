"""A synthetic multi-band satellite scene with known land cover, for UNet segmentation.

``make_scene`` writes a ``size`` × ``size`` surface-reflectance GeoTIFF (uint16, × 10,000,
nodata 0; EPSG:32633, 10 m pixels) and a label GeoTIFF on the same grid (uint8 class index,
nodata 255). The classes are water, forest, grassland, cropland and built-up.

The point of the scene is what a per-pixel model cannot see: cropland has exactly grassland's
mean spectrum and differs only by its texture (stripes 4-6 px apart, ±15-20 %, an orientation
per field; grassland is mottled as strongly, but smoothly, so single pixels of the two look
alike), and only a model that looks at neighbourhoods tells them apart. Built-up is rare
(~2 % of the valid pixels, small blocks) with a spectrum of its own. Like a real scene it has
mixed pixels at field borders (the reflectance is blurred by ~1 px, the labels are not),
spatially correlated noise in every band, one cloud with its shadow (the labels there keep the
ground's class) and a nodata wedge along the right edge (0 in every band, 255 in the labels).

The scene is computed and written in tiles, so memory stays bounded (about 0.3 GB at
10,000 × 10,000 × 6) and, because every draw depends on the global pixel position rather than
on the tile (see ``scene_fields``), the result does not depend on the tile size.

Example:
    >>> info = make_scene("scene", size=512, seed=0)            # doctest: +SKIP
    >>> info["class_shares"]["built-up"]                        # doctest: +SKIP
    0.02...
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from trainwise.atomic import write_text_atomic
from trainwise.datasets.scene_fields import (CLASSES, LABEL_NODATA, band_names, make_layout,
                                             render_window)
from trainwise.errors import UserError

README_TITLE = "Synthetic multi-band scene with known land cover, made by trainwise make-scene"
SCENE_FILE, LABELS_FILE = "scene.tif", "labels.tif"
CLASSES_FILE, README_FILE = "classes.csv", "README.txt"
OUTPUT_FILES = (SCENE_FILE, LABELS_FILE, CLASSES_FILE, README_FILE)
CRS = "EPSG:32633"  # WGS 84 / UTM zone 33N
ORIGIN = (500000.0, 5000000.0)  # upper-left corner, metres
PIXEL_SIZE = 10.0  # metres
BLOCK = 256  # GeoTIFF tile side: windowed reads touch only the tiles they need
TILE = 1024  # pixels per side computed at once; a multiple of BLOCK, so writes fill whole tiles
SCENE_NODATA = 0  # labels.tif's is scene_fields.LABEL_NODATA (255)
MIN_SIZE, MIN_BANDS, MAX_BANDS = 32, 3, 16
GDAL_CACHE_MB = 64  # GDAL's default (5 % of RAM) would hold a big scene's tiles in memory


def make_scene(out_dir: str | Path, size: int = 512, bands: int = 6, seed: int = 0, *,
               _tile: int = TILE) -> dict:
    """Write ``scene.tif``, ``labels.tif``, ``classes.csv`` and ``README.txt`` into ``out_dir``.

    The same arguments give byte-identical files. A previous output in ``out_dir`` is
    replaced; any other non-empty folder is refused.

    Args:
        out_dir: folder to fill (created).
        size: pixels per side (at least 32).
        bands: spectral bands, 3..16; six are named blue, green, red, nir, swir1, swir2,
            another count band1, band2, ... (the six spectra resampled).
        seed: drives every draw (not negative).
        _tile: pixels per side computed at once; only tests change it (the files do not
            depend on it, except possibly in the order of their compressed tiles).

    Returns:
        ``out_dir``, ``scene``, ``labels``, ``classes_csv``, ``readme`` (paths), ``size``,
        ``bands`` (names), ``class_counts`` and ``class_shares`` ({class: pixels, share of
        the valid pixels}), ``valid_pixels`` and ``nodata_pixels``.

    Raises:
        UserError: an argument out of range, or ``out_dir`` holds something else.
    """
    _check_arguments(size, bands, seed)
    out = Path(out_dir)
    problem = out_dir_problem(out)
    if problem:
        raise UserError(problem)
    out.mkdir(parents=True, exist_ok=True)
    _remove_temporaries(out)  # a killed run's
    counts = _write_rasters(out, size, bands, seed, _tile)
    write_text_atomic(out / CLASSES_FILE, _classes_csv())
    write_text_atomic(out / README_FILE, _readme(size, bands, seed))  # last: marks it complete
    valid = int(counts[:len(CLASSES)].sum())
    class_counts = {name: int(counts[value]) for value, name in enumerate(CLASSES)}
    return {"out_dir": out, "scene": out / SCENE_FILE, "labels": out / LABELS_FILE,
            "classes_csv": out / CLASSES_FILE, "readme": out / README_FILE, "size": size,
            "bands": list(band_names(bands)), "class_counts": class_counts,
            "class_shares": {name: count / max(valid, 1) for name, count in class_counts.items()},
            "valid_pixels": valid, "nodata_pixels": int(counts[LABEL_NODATA])}


def out_dir_problem(out_dir: str | Path) -> str | None:
    """Why ``out_dir`` must not be written, or None: missing, empty, or a previous output.

    A folder holding only files this command writes counts as a previous output, so a run
    killed before its README can be rerun into the same folder.
    """
    out = Path(out_dir)
    if not out.exists():
        return None
    if not out.is_dir():
        return f"{out} is a file, not a folder; give a new or empty folder."
    if _is_previous_output(out) or all(_is_ours(entry) for entry in out.iterdir()):
        return None
    return (f"{out} is not empty and is not a previous make-scene output (no {README_FILE} "
            "made by it); give a new or empty folder, so no other files are mixed in.")


def _write_rasters(out: Path, size: int, bands: int, seed: int, tile: int) -> np.ndarray:
    """Compute the scene tile by tile into both GeoTIFFs; returns pixel counts per label value.

    Both files are written under temporary names and renamed at the end, so a killed run
    leaves no half-written scene.
    """
    import rasterio
    from rasterio.windows import Window

    layout = make_layout(seed, size, bands)
    temporaries = {name: _temporary(out, name) for name in (SCENE_FILE, LABELS_FILE)}
    counts = np.zeros(256, np.int64)
    try:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), \
                rasterio.open(temporaries[SCENE_FILE], "w", **_profile(size, bands, "uint16",
                                                                       SCENE_NODATA)) as scene, \
                rasterio.open(temporaries[LABELS_FILE], "w", **_profile(size, 1, "uint8",
                                                                        LABEL_NODATA)) as labels:
            _describe(scene, labels, bands)
            for row in range(0, size, tile):
                for col in range(0, size, tile):
                    height, width = min(tile, size - row), min(tile, size - col)
                    reflectance, classes = render_window(layout, row, col, height, width)
                    window = Window(col, row, width, height)
                    scene.write(_to_uint16(reflectance, classes == LABEL_NODATA),
                                window=window)
                    labels.write(classes, 1, window=window)
                    counts += np.bincount(classes.ravel(), minlength=256)
        for name, temporary in temporaries.items():
            os.replace(temporary, out / name)
    finally:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)
    return counts


def _profile(size: int, count: int, dtype: str, nodata: int) -> dict:
    from affine import Affine

    # Built directly: rasterio's from_origin multiplies Affines and warns under affine >= 3.1.
    transform = Affine(PIXEL_SIZE, 0.0, ORIGIN[0], 0.0, -PIXEL_SIZE, ORIGIN[1])
    return {"driver": "GTiff", "width": size, "height": size, "count": count, "dtype": dtype,
            "crs": CRS, "transform": transform, "nodata": nodata, "tiled": True,
            "blockxsize": BLOCK, "blockysize": BLOCK, "compress": "deflate", "predictor": 2,
            "zlevel": 1, "interleave": "pixel"}  # level 1: 3x faster than 6, as small here


def _describe(scene, labels, bands: int) -> None:
    """Band names, the reflectance scale and the class list, stored in the files themselves."""
    scene.descriptions = band_names(bands)
    scene.scales = (1e-4,) * bands  # stored value × 1e-4 = surface reflectance
    scene.update_tags(UNITS="surface reflectance x 10000")
    labels.descriptions = ("land cover class",)
    labels.update_tags(CLASSES=";".join(f"{value}={name}" for value, name in enumerate(CLASSES)))


def _to_uint16(reflectance: np.ndarray, nodata: np.ndarray) -> np.ndarray:
    """Round (bands, h, w) to uint16; valid pixels become at least 1, so 0 means nodata only."""
    values = np.clip(np.rint(reflectance), 1, np.iinfo(np.uint16).max).astype(np.uint16)
    values[:, nodata] = SCENE_NODATA
    return values


def _temporary(out: Path, name: str) -> Path:
    """A temporary name like write_atomic's (``.scene.tif.<pid>.tmp``).

    GDAL creates the file itself, with the usual permissions (mkstemp's would be 0600).
    """
    return out / f".{name}.{os.getpid()}.tmp"


def _check_arguments(size: int, bands: int, seed: int) -> None:
    """Raise a UserError naming the first argument out of range, before anything is written."""
    if size < MIN_SIZE:
        raise UserError(f"size must be at least {MIN_SIZE} pixels, got {size}.")
    if not MIN_BANDS <= bands <= MAX_BANDS:
        raise UserError(f"bands must be {MIN_BANDS}..{MAX_BANDS}, got {bands}.")
    if seed < 0:
        raise UserError(f"seed must not be negative, got {seed}.")


def _remove_temporaries(out: Path) -> None:
    """Delete the temporaries of this command's files only (another tool's may be live)."""
    for entry in out.iterdir():
        if entry.name.endswith(".tmp") and _is_ours(entry):
            entry.unlink(missing_ok=True)


def _is_ours(entry: Path) -> bool:
    """A file this command writes, or one of its temporaries."""
    return entry.is_file() and (entry.name in OUTPUT_FILES or (
        entry.name.startswith(tuple(f".{name}." for name in OUTPUT_FILES))
        and entry.name.endswith(".tmp")))


def _is_previous_output(out: Path) -> bool:
    readme = out / README_FILE
    return readme.is_file() and readme.read_text(encoding="utf-8",
                                                 errors="replace").startswith(README_TITLE)


def _classes_csv() -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("value", "name"))
    writer.writerows(enumerate(CLASSES))
    return buffer.getvalue()


def _readme(size: int, bands: int, seed: int) -> str:
    names = ", ".join(band_names(bands))
    kilometres = size * PIXEL_SIZE / 1000
    return f"""{README_TITLE} (seed {seed}).

scene.tif    {size} x {size} pixels, {bands} bands: surface reflectance x 10,000 as uint16
             (typically 100..6000), nodata 0. Bands: {names}.
             {CRS}, {PIXEL_SIZE:g} m pixels ({kilometres:g} km square), upper-left corner
             {ORIGIN[0]:.0f} E {ORIGIN[1]:.0f} N.
             Tiled GeoTIFF ({BLOCK} x {BLOCK}), deflate-compressed: windowed reads are cheap.
labels.tif   uint8 land-cover class per pixel on the same grid, nodata 255.
classes.csv  value,name: 0 water, 1 forest, 2 grassland, 3 cropland, 4 built-up.

What is in it:
- Fields tens of pixels wide, one class each. Cropland has the same mean spectrum as
  grassland and differs only by texture: stripes 4-6 pixels apart (+-15-20 % reflectance),
  one orientation per field, where grassland is mottled about as strongly but smoothly.
  Single pixels of the two look alike, so a per-pixel model cannot tell them apart; a
  convolutional one can.
- Built-up: small blocks, about 2 % of the valid pixels, with a spectrum of their own.
- Mixed pixels at field borders (the reflectance is blurred by about one pixel; the labels
  are crisp), spatially correlated noise in every band (about 3 %).
- One cloud (bright in all bands) and its shadow (darker) a little way off. The labels there
  keep the class of the ground beneath.
- A nodata wedge along the right edge: 0 in every band of scene.tif, 255 in labels.tif.
  Nowhere else is the scene 0.

The same size, bands and seed give identical files. Rerunning trainwise make-scene on this
folder replaces these files.
"""
