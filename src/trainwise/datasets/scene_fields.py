"""What the synthetic scene of ``scene.py`` looks like, one window of pixels at a time.

Every value here is a function of the seed and the *global* pixel position only, never of the
window it is computed in, so a scene made in 64-pixel tiles equals one made in one piece:

- per-cell draws (field class, brightness, stripes; built-up blocks; the lattice of the smooth
  fields) come from a hash of (seed, stream, cell), not from a generator's running state;
- white noise comes in fixed 128 × 128 blocks, each from its own generator seeded with
  (seed, band, block), for blocks beyond the scene's edge too;
- a filter reads a margin around its window as wide as its kernel, so no pixel of the window
  sees the window's edge.

Land cover is a Voronoi tessellation (one jittered point per ``FIELD_SIZE`` cell) of warped
coordinates: fields tens of pixels wide with wiggly borders, each of one class. Built-up is
overlaid as small rectangular blocks. Cropland has grassland's spectrum times stripes
(``1 + STRIPE_AMPLITUDE·sin``, period 4–6 px, an orientation per field); grassland's is
mottled about as strongly, but smoothly. Both multipliers average 1, and one pixel's values are
spread alike in both: the two differ only in texture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

CLASSES = ("water", "forest", "grassland", "cropland", "built-up")
WATER, FOREST, GRASSLAND, CROPLAND, BUILT_UP = range(len(CLASSES))
LABEL_NODATA = 255  # the label of pixels without data (their reflectance is 0)
FIELD_CLASS_WEIGHTS = (0.18, 0.28, 0.27, 0.27)  # water, forest, grassland, cropland fields
BAND_NAMES_6 = ("blue", "green", "red", "nir", "swir1", "swir2")
# Surface reflectance × 10,000 per class in the six bands above (Sentinel-2-like shapes).
# Cropland and built-up are grassland's row on purpose: only texture and shape tell them
# apart (stripes in fields; a checkerboard of roofs and gardens in small rectangular blocks).
SPECTRA_6 = np.array([
    [700, 600, 400, 250, 150, 100],  # water
    [300, 550, 300, 3200, 1500, 700],  # forest
    [450, 800, 600, 3600, 2400, 1300],  # grassland
    [450, 800, 600, 3600, 2400, 1300],  # cropland
    [450, 800, 600, 3600, 2400, 1300],  # built-up
], dtype=np.float64)
CLOUD_6 = np.array([5600, 5500, 5600, 5900, 4800, 3800], dtype=np.float64)

FIELD_SIZE = 40  # px between Voronoi points: fields tens of pixels wide
WARP = ((32.0, 6.0), (12.0, 2.0))  # (lattice spacing, amplitude) in px of the border wiggle
FIELD_BRIGHTNESS = 0.03  # each field's brightness is 1 ± this (uniform), any class
STRIPE_AMPLITUDE = 0.22  # cropland stripes, relative; the ~1 px blur leaves ±15-20 %
STRIPE_PERIOD = (4.0, 6.0)  # px; shorter stripes would be blurred away
# Grassland is mottled as strongly but smoothly (a value-noise field 10 px across), so a
# single pixel's brightness says as little about its class as it does in cropland.
GRASS_MOTTLE, GRASS_MOTTLE_SPACING = 0.3, 10.0
BLOCK_CELL = 32  # built-up: at most one block per 32 × 32 cell...
BLOCK_CHANCE = 0.5  # ... present in half of them ...
BLOCK_SIDES = (3, 10)  # ... with sides 3..10 px: 0.5 · 6.5² / 32² ≈ 2 % of the pixels
# Built-up blocks: roofs and gardens in a checkerboard of 2-px squares, ± this (relative).
CHECKER_AMPLITUDE, CHECKER_SQUARE = 0.35, 2
MIX_SIGMA = 0.5  # px; the blur that mixes pixels at borders
NOISE_SIGMA = 1.5  # px; spatial correlation of the per-band noise
NOISE_LEVEL = 0.03  # relative standard deviation of that noise
NOISE_BLOCK = 128  # white noise is drawn in blocks this size, fixed on the global grid
SHADOW_DARKENING = 0.55  # the shadow's core keeps 45 % of the light
CLOUD_RAGGEDNESS = 0.3  # how far the cloud's edge strays from its circle, in radii

# Streams keep the hashes of different draws apart.
(_POINT_Y, _POINT_X, _FIELD_CLASS, _FIELD_BRIGHTNESS, _STRIPE_ANGLE, _STRIPE_PERIOD,
 _STRIPE_PHASE, _BLOCK_PRESENT, _BLOCK_HEIGHT, _BLOCK_WIDTH, _BLOCK_TOP, _BLOCK_LEFT,
 _BLOCK_BRIGHTNESS, _CLOUD_EDGE, _NOISE, _GRASS_MOTTLE) = range(1, 17)
_WARP_STREAMS = 100  # + 2 · octave (+ 1 for columns)

_U64 = np.uint64


@dataclass(frozen=True)
class Layout:
    """What the whole scene shares: its size, the cloud and shadow, and the nodata edge.

    Attributes:
        seed: drives every draw.
        size: pixels per side.
        spectra: (classes, bands) reflectance × 10,000.
        cloud: (bands,) the cloud's reflectance × 10,000.
        cloud_centre: (row, col) of the cloud, px.
        cloud_radius: px.
        shadow_offset: (rows, cols) from the cloud to its shadow.
        edge_start, edge_slope: no data from column ``size·edge_start + edge_slope·row`` on.
    """

    seed: int
    size: int
    spectra: np.ndarray
    cloud: np.ndarray
    cloud_centre: tuple[float, float]
    cloud_radius: float
    shadow_offset: tuple[float, float]
    edge_start: float
    edge_slope: float


def make_layout(seed: int, size: int, bands: int) -> Layout:
    """The scene-wide draws for ``seed``, scaled to ``size``; spectra resampled to ``bands``."""
    rng = np.random.default_rng([seed, 0x5CE4E])
    radius = max(3.0, 0.07 * size)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    distance = rng.uniform(0.9, 1.3) * radius  # the shadow mostly clear of its cloud
    return Layout(seed=seed, size=size, spectra=band_spectra(SPECTRA_6, bands),
                  cloud=band_spectra(CLOUD_6[None], bands)[0],
                  cloud_centre=(rng.uniform(0.25, 0.75) * size, rng.uniform(0.2, 0.6) * size),
                  cloud_radius=radius,
                  shadow_offset=(distance * np.sin(angle), distance * np.cos(angle)),
                  edge_start=rng.uniform(0.82, 0.88),
                  edge_slope=rng.choice((-1.0, 1.0)) * rng.uniform(0.04, 0.08))


def band_names(bands: int) -> tuple[str, ...]:
    """blue, green, red, nir, swir1, swir2 for six bands; band1, band2, ... otherwise."""
    return BAND_NAMES_6 if bands == 6 else tuple(f"band{i + 1}" for i in range(bands))


def band_spectra(spectra: np.ndarray, bands: int) -> np.ndarray:
    """(rows, 6) spectra resampled to ``bands`` evenly spaced positions along the six bands."""
    positions = np.linspace(0.0, 5.0, bands)
    return np.stack([np.interp(positions, np.arange(6), row) for row in spectra])


def render_window(layout: Layout, row: int, col: int, height: int,
                  width: int) -> tuple[np.ndarray, np.ndarray]:
    """The scene's pixels in one window: ``(reflectance, labels)``.

    Returns:
        reflectance: (bands, height, width) float32, × 10,000, 0 where there is no data.
        labels: (height, width) uint8 class index, 255 where there is no data.
    """
    margin = _radius(MIX_SIGMA)  # the border-mixing blur needs this much context
    rows, cols = _coordinates(row - margin, col - margin, height + 2 * margin,
                              width + 2 * margin)
    labels, reflectance = _ground(layout, rows, cols)
    inner = (slice(margin, margin + height), slice(margin, margin + width))
    labels = labels[inner]
    reflectance = np.stack([gaussian_filter(band, MIX_SIGMA)[inner] for band in reflectance])
    for band in range(len(reflectance)):
        reflectance[band] *= 1.0 + NOISE_LEVEL * correlated_noise(layout.seed, band, row, col,
                                                                  height, width)
    rows, cols = _coordinates(row, col, height, width)
    _add_cloud(layout, reflectance, rows, cols)
    nodata = np.broadcast_to(cols >= layout.size * layout.edge_start + layout.edge_slope * rows,
                             labels.shape)
    reflectance[:, nodata] = 0.0
    labels[nodata] = LABEL_NODATA
    return reflectance, labels


def _ground(layout: Layout, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crisp labels (h, w) and unblurred reflectance (bands, h, w) float32 of the land cover."""
    labels, brightness, field = _fields(layout.seed, rows, cols)
    angle, period, phase = field
    along = cols * np.cos(angle) + rows * np.sin(angle)  # straight stripes: unwarped position
    stripes = 1.0 + STRIPE_AMPLITUDE * np.sin(2.0 * np.pi * along / period + phase)
    brightness = np.where(labels == CROPLAND, brightness * stripes, brightness)
    mottle = 1.0 + GRASS_MOTTLE * value_noise(layout.seed, _GRASS_MOTTLE, rows, cols,
                                              GRASS_MOTTLE_SPACING)
    brightness = np.where(labels == GRASSLAND, brightness * mottle, brightness)
    built, block_brightness = _built_up(layout.seed, rows, cols)
    checker = np.where((rows // CHECKER_SQUARE + cols // CHECKER_SQUARE) % 2 == 0, 1.0, -1.0)
    block_brightness = block_brightness * (1.0 + CHECKER_AMPLITUDE * checker)
    labels = np.where(built, BUILT_UP, labels).astype(np.uint8)
    brightness = np.where(built, block_brightness, brightness).astype(np.float32)
    reflectance = layout.spectra.T.astype(np.float32)[:, labels] * brightness
    return labels, reflectance


def _fields(seed: int, rows: np.ndarray, cols: np.ndarray):
    """Each pixel's field (nearest Voronoi point of its warped position): class, brightness and
    stripe (angle, period, phase), (h, w) each."""
    lattice, owner = _voronoi(seed, *_warped(seed, rows, cols))

    def draw(stream):  # the owning field's uniform draw, per pixel
        return hash_uniform(seed, stream, *lattice).ravel().take(owner)

    field_class = np.searchsorted(np.cumsum(FIELD_CLASS_WEIGHTS[:-1]), draw(_FIELD_CLASS),
                                  side="right").astype(np.uint8)
    brightness = 1.0 + FIELD_BRIGHTNESS * (2.0 * draw(_FIELD_BRIGHTNESS) - 1.0)
    low, high = STRIPE_PERIOD
    stripe = (np.pi * draw(_STRIPE_ANGLE), low + (high - low) * draw(_STRIPE_PERIOD),
              2.0 * np.pi * draw(_STRIPE_PHASE))
    return field_class, brightness, stripe


def _warped(seed: int, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions moved by smooth random fields, so field borders wiggle; (h, w) each."""
    y, x = rows.astype(np.float64), cols.astype(np.float64)
    for octave, (spacing, amplitude) in enumerate(WARP):
        stream = _WARP_STREAMS + 2 * octave
        y, x = (y + amplitude * value_noise(seed, stream, rows, cols, spacing),
                x + amplitude * value_noise(seed, stream + 1, rows, cols, spacing))
    return y, x


def _voronoi(seed: int, y: np.ndarray, x: np.ndarray):
    """The nearest of the points jittered in every ``FIELD_SIZE`` cell, searched in the 3 × 3
    cells around each position.

    Returns:
        ``(lattice_y, lattice_x)``, the global indices of the cells searched ((n, 1) and
        (1, m)), and ``owner``, per pixel the flat index (row-major, n × m) of its point's cell.
    """
    cell_y = np.floor(y / FIELD_SIZE).astype(np.int64)
    cell_x = np.floor(x / FIELD_SIZE).astype(np.int64)
    first_y, first_x = cell_y.min() - 1, cell_x.min() - 1
    lattice = (np.arange(first_y, cell_y.max() + 2)[:, None],
               np.arange(first_x, cell_x.max() + 2)[None, :])
    # Points kept off the cell borders, so the fields are of similar sizes.
    point_y = (lattice[0] + 0.15 + 0.7 * hash_uniform(seed, _POINT_Y, *lattice)) * FIELD_SIZE
    point_x = (lattice[1] + 0.15 + 0.7 * hash_uniform(seed, _POINT_X, *lattice)) * FIELD_SIZE
    columns = point_y.shape[1]
    centre = (cell_y - first_y) * columns + (cell_x - first_x)
    steps = [step_y * columns + step_x for step_y in (-1, 0, 1) for step_x in (-1, 0, 1)]
    nearest, choice = None, np.zeros(y.shape, np.uint8)
    for number, step in enumerate(steps):
        index = centre + step
        distance = ((point_y.ravel().take(index) - y) ** 2
                    + (point_x.ravel().take(index) - x) ** 2)
        if nearest is None:
            nearest = distance
            continue
        closer = distance < nearest  # strict, in a fixed order: ties go the same way always
        np.copyto(nearest, distance, where=closer)
        choice[closer] = number
    return lattice, centre + np.take(steps, choice)


def _built_up(seed: int, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which pixels are built-up (one block in about half the 32 × 32 cells), and the block's
    brightness; (h, w) each."""
    cell_y, cell_x = rows // BLOCK_CELL, cols // BLOCK_CELL
    first_y, first_x = cell_y.min(), cell_x.min()
    lattice_y = np.arange(first_y, cell_y.max() + 1)[:, None]
    lattice_x = np.arange(first_x, cell_x.max() + 1)[None, :]
    low, high = BLOCK_SIDES

    def draw(stream):  # one uniform draw per cell of the local lattice
        return hash_uniform(seed, stream, lattice_y, lattice_x)

    height = low + np.floor((high - low + 1) * draw(_BLOCK_HEIGHT))
    width = low + np.floor((high - low + 1) * draw(_BLOCK_WIDTH))
    top = np.floor((BLOCK_CELL - height + 1) * draw(_BLOCK_TOP))  # the block stays in its cell
    left = np.floor((BLOCK_CELL - width + 1) * draw(_BLOCK_LEFT))
    present = draw(_BLOCK_PRESENT) < BLOCK_CHANCE
    cell = (cell_y - first_y, cell_x - first_x)
    inside_y = rows % BLOCK_CELL - top[cell]
    inside_x = cols % BLOCK_CELL - left[cell]
    built = (present[cell] & (inside_y >= 0) & (inside_y < height[cell]) & (inside_x >= 0)
             & (inside_x < width[cell]))
    brightness = 1.0 + FIELD_BRIGHTNESS * (2.0 * draw(_BLOCK_BRIGHTNESS) - 1.0)
    return built, brightness[cell]


def _add_cloud(layout: Layout, reflectance: np.ndarray, rows: np.ndarray,
               cols: np.ndarray) -> None:
    """Darken the shadow, then blend the cloud over it, in place (the labels stay)."""
    shift_y, shift_x = layout.shadow_offset
    shadow = _cloud_opacity(layout, rows - shift_y, cols - shift_x)
    if shadow is not None:
        reflectance *= (1.0 - SHADOW_DARKENING * shadow).astype(np.float32)
    opacity = _cloud_opacity(layout, rows, cols)
    if opacity is not None:
        opacity = opacity.astype(np.float32)
        reflectance *= 1.0 - opacity
        reflectance += opacity * layout.cloud.astype(np.float32)[:, None, None]


def _cloud_opacity(layout: Layout, rows: np.ndarray, cols: np.ndarray) -> np.ndarray | None:
    """0..1 at rows (h, 1) × columns (1, w): a disc with a ragged edge (value noise), opaque
    in its core; None where the window is clear of it (most windows of a big scene)."""
    centre_y, centre_x = layout.cloud_centre
    gap_y = max(rows.min() - centre_y, centre_y - rows.max(), 0.0)
    gap_x = max(cols.min() - centre_x, centre_x - cols.max(), 0.0)
    if np.hypot(gap_y, gap_x) > (1.0 + CLOUD_RAGGEDNESS) * layout.cloud_radius + 1.0:
        return None  # skipping changes nothing: the opacity would be 0 everywhere
    distance = np.hypot(rows - centre_y, cols - centre_x) / layout.cloud_radius
    ragged = CLOUD_RAGGEDNESS * value_noise(layout.seed, _CLOUD_EDGE, rows, cols,
                                            max(4.0, layout.cloud_radius / 2.0))
    return np.clip(3.0 * (1.0 - distance + ragged), 0.0, 1.0)


def correlated_noise(seed: int, band: int, row: int, col: int, height: int,
                     width: int) -> np.ndarray:
    """Gaussian-filtered white noise (σ = ``NOISE_SIGMA`` px) of unit variance, (h, w) float32.

    The white noise lives on the infinite global grid in fixed blocks, so the filtered value at
    a pixel is the same whatever window it is computed in.
    """
    margin = _radius(NOISE_SIGMA)
    top, left = row - margin, col - margin
    white = np.empty((height + 2 * margin, width + 2 * margin), np.float32)
    for block_y in range(top // NOISE_BLOCK, (top + white.shape[0] - 1) // NOISE_BLOCK + 1):
        for block_x in range(left // NOISE_BLOCK, (left + white.shape[1] - 1) // NOISE_BLOCK + 1):
            # +1: the margin reaches block -1, and seeds must not be negative.
            rng = np.random.default_rng([seed, _NOISE, band, block_y + 1, block_x + 1])
            block = rng.standard_normal((NOISE_BLOCK, NOISE_BLOCK), dtype=np.float32)
            y0, x0 = block_y * NOISE_BLOCK, block_x * NOISE_BLOCK
            ys = slice(max(top, y0), min(top + white.shape[0], y0 + NOISE_BLOCK))
            xs = slice(max(left, x0), min(left + white.shape[1], x0 + NOISE_BLOCK))
            white[ys.start - top:ys.stop - top, xs.start - left:xs.stop - left] = \
                block[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    smooth = gaussian_filter(white, NOISE_SIGMA)[margin:margin + height, margin:margin + width]
    # A unit-sum 2-D Gaussian leaves white noise a variance of 1 / (4πσ²).
    return smooth * np.float32(2.0 * NOISE_SIGMA * np.sqrt(np.pi))


def value_noise(seed: int, stream: int, rows: np.ndarray, cols: np.ndarray,
                spacing: float) -> np.ndarray:
    """A smooth random field in -1..1 at rows (h, 1) × columns (1, w), px: hashed values on a
    lattice ``spacing`` px apart, interpolated with smoothstep weights; (h, w)."""
    y, x = np.ravel(rows).astype(np.float64) / spacing, np.ravel(cols).astype(np.float64) / spacing
    cell_y, cell_x = np.floor(y), np.floor(x)
    first_y, first_x = int(cell_y.min()), int(cell_x.min())
    lattice = 2.0 * hash_uniform(seed, stream, np.arange(first_y, int(cell_y.max()) + 2)[:, None],
                                 np.arange(first_x, int(cell_x.max()) + 2)[None, :]) - 1.0
    index_y, index_x = (cell_y - first_y).astype(np.int64), (cell_x - first_x).astype(np.int64)
    weight_y, weight_x = _smoothstep(y - cell_y)[:, None], _smoothstep(x - cell_x)
    # Across the columns on the lattice's few rows first, then down the rows: separable.
    across = lattice[:, index_x] * (1 - weight_x) + lattice[:, index_x + 1] * weight_x
    return across[index_y] * (1 - weight_y) + across[index_y + 1] * weight_y


def hash_uniform(seed: int, stream: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """A uniform draw in [0, 1) per integer ``(i, j)`` (broadcast), fixed by seed and stream.

    splitmix64 finalisers chained over the key: no generator state, so a cell gets the same
    number whichever window asks for it.
    """
    i, j = np.broadcast_arrays(np.asarray(i, np.int64), np.asarray(j, np.int64))
    key = np.full(i.shape, ((seed << 8) ^ stream) % 2 ** 64, _U64)
    mixed = _mix(_mix(_mix(key) + i.view(_U64)) + j.view(_U64))
    return (mixed >> _U64(11)).astype(np.float64) * 2.0 ** -53


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's step and finaliser on a uint64 array (wrapping arithmetic)."""
    z = values + _U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def _smoothstep(fraction: np.ndarray) -> np.ndarray:
    return fraction * fraction * (3.0 - 2.0 * fraction)


def _coordinates(row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Global row (h, 1) and column (1, w) of a window's pixels, int64; they broadcast to
    (h, w), so what depends on one axis only is computed once per row or column."""
    return np.arange(row, row + height)[:, None], np.arange(col, col + width)[None, :]


def _radius(sigma: float) -> int:
    """How far scipy's gaussian_filter reaches (its default truncate of 4 σ)."""
    return int(4.0 * sigma + 0.5)
