"""A whole scene mapped with a trained segmentation model: sliding windows, blended smoothly.

``segment_scene`` runs the model on windows of the run's chip size laid on the grid of
``chips.grid_windows`` (stride ``chip // 2`` by default; the last row and column of windows
end at the scene's edge, so every pixel is covered) and writes a GeoTIFF of classes.

**Blending.** Each window's softmax probabilities are multiplied by a 2-D Hann weight,
``w(i, j) = h(i) h(j)`` with ``h(i) = EPS + (1 - EPS) sin²(π (i + ½) / chip)``, summed, and
divided per pixel by the summed weights. ``h`` is never 0 (so a scene-edge pixel covered by
one window still gets that window's prediction), and at stride ``chip // 2`` the shifted
``sin²`` add up to a constant, so the interior is an evenly weighted mix. A pixel's result is
thus a convex combination of the predictions of the windows covering it, each weighted by how
central the pixel is in that window. For a model whose output at a pixel depends only on that
pixel (receptive field 1) this equals running the model once on the whole scene, to float
rounding, everywhere. A UNet's output also depends on a neighbourhood (about 100 pixels across
at depth 3) and, through max-pooling, on the window's offset modulo ``2**depth``: near a
window's border the window's zero padding replaces real context, so window predictions there
differ from whole-image ones. The Hann weight gives those border predictions little say; what
remains is a small difference in the interior (tests/test_segment.py states the tolerance it
checks) — and it is whole-image inference, not the windows, that departs from how the model
was trained (on chips).

**Memory.** Windows are processed one row of windows at a time. After the row starting at
scene row ``s`` only rows ``>= s`` can still change, so the accumulators hold ``chip`` rows
(``(classes + 1) × chip × width`` float32); rows no later window touches are normalised,
turned into classes and buffered until a whole row of output tiles (256 rows) is complete,
then written with a windowed write. Peak memory is about ``width × (chip × (bands + classes)
× 4 + 256 × bytes per output pixel)`` plus the model's activations for ``batch_size`` windows
(× 8 with TTA): it grows with the scene's width, never with its height. GDAL's block cache
is capped at 64 MB while mapping.

**Output.** ``out_path``: band 1 ``class``, each pixel's class value (as in the label raster,
``prep.class_values``), uint8 with nodata 255 (uint16 / 65535 when a value is above 254,
int32 otherwise), nodata where the scene is nodata in any band; the scene's CRS and transform,
256 × 256 tiles, deflate. With ``probabilities=True`` a second GeoTIFF beside it,
``<stem>_probabilities<suffix>``, holds one float32 band per class, ``p_<class>`` (a GeoTIFF's
bands share one data type, and a class map is best kept small), nodata -9999. Each file is
written under a temporary name in its folder and renamed when complete (the probabilities
first), so a crash never leaves a half-written map.
"""

from __future__ import annotations

import os
import resource
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.windows import Window

from trainwise.errors import UserError
from trainwise.inputs.raster.chips import grid_windows
from trainwise.inputs.raster.scene import open_scene

EPS = 1e-3  # floor of the Hann weight, relative to its peak
TILE = 256  # output tile side; finished rows are written a whole row of tiles at a time
PROBABILITY_NODATA = -9999.0
GDAL_CACHE_MB = 64


def hann_weight(chip: int) -> np.ndarray:
    """(chip, chip) float32 blending weight: a Hann window sampled at pixel centres, floored."""
    side = EPS + (1 - EPS) * np.sin(np.pi * (np.arange(chip) + 0.5) / chip) ** 2
    return np.outer(side, side).astype(np.float32)


def probabilities_path(out_path: str | Path) -> Path:
    """Where ``probabilities=True`` writes the per-class probabilities for ``out_path``."""
    return Path(out_path).with_name(f"{Path(out_path).stem}_probabilities{Path(out_path).suffix}")


def segment_scene(model: torch.nn.Module, prep, raster_path: str | Path, out_path: str | Path,
                  *, stride: int | None = None, batch_size: int = 8, tta: bool = False,
                  probabilities: bool = False, nodata: float | None = None,
                  tags: dict | None = None) -> dict:
    """Map ``raster_path`` with ``model`` and write the class GeoTIFF ``out_path``.

    Args:
        model: the run's segmentation model ((N, C, h, w) -> (N, K, h, w) logits); it runs
            on the device its parameters are on, in eval mode (restored afterwards).
        prep: the run's ``RasterPreprocessor`` (bands, standardisation, chip size, classes).
        stride: pixels between windows, 1..chip (default ``chip // 2``).
        batch_size: windows per forward pass.
        tta: average the probabilities over the 8 flips and quarter turns of each window.
        probabilities: also write ``probabilities_path(out_path)`` (see the module docstring).
        nodata: the scene's nodata value; default the file's own, else the run's.
        tags: extra GeoTIFF tags for the output(s).

    Returns:
        ``path``, ``probabilities`` (path or None), ``width``, ``height``, ``pixels``,
        ``valid_pixels``, ``nodata_pixels``, ``class_pixels`` ({class: pixels}), ``windows``,
        ``stride``, ``chip``, ``tta``, ``seconds``, ``pixels_per_second`` and ``peak_rss_mb``
        (this process's peak resident memory so far).

    Raises:
        UserError: not a raster run's preprocessing, a bad stride, a missing or unreadable
            scene, another band count than the model's, a scene smaller than a chip, or
            ``out_path`` naming the scene itself.
    """
    started = time.perf_counter()
    if getattr(prep, "kind", None) != "raster":
        raise UserError(f"segment_scene maps scenes with a raster run; this run's inputs are "
                        f"data.kind: {getattr(prep, 'kind', 'tabular')}")
    chip = prep.chip_size
    stride = chip // 2 if stride is None else stride
    if not 1 <= stride <= chip:
        raise UserError(f"--stride {stride}: the stride must be 1..{chip} (the run's chip size), "
                        "so that the windows cover every pixel")
    raster_path, out_path = Path(raster_path), Path(out_path)
    with ExitStack() as stack:
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB))
        scene = open_scene(str(raster_path), "--raster", nodata)
        stack.callback(scene.close)
        if nodata is None and scene.nodata is None:
            scene.nodata = prep.nodata  # a scene without nodata metadata: the run's rule
        prep.check_bands(scene.bands, f"--raster '{raster_path}'")
        if scene.width < chip or scene.height < chip:
            raise UserError(f"--raster '{raster_path}' is {scene.width}x{scene.height} pixels, "
                            f"smaller than the run's {chip}x{chip} chips in at least one "
                            "direction; map a scene at least one chip wide and high")
        if out_path.exists() and out_path.resolve() == raster_path.resolve():
            raise UserError(f"--out '{out_path}' is the scene itself; give another path")
        windows = grid_windows(scene.width, scene.height, chip, stride)
        writer = stack.enter_context(_MapWriter(scene, prep, out_path, probabilities, tags or {}))
        device = next(model.parameters(), torch.empty(0)).device
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                _blend(model, prep, scene, windows, writer, batch_size, tta, device)
        finally:
            model.train(was_training)
        writer.finish()
    seconds = time.perf_counter() - started
    pixels = scene.width * scene.height
    return {"path": out_path, "probabilities": writer.probabilities_path,
            "width": scene.width, "height": scene.height, "pixels": pixels,
            "valid_pixels": int(writer.class_pixels.sum()),
            "nodata_pixels": pixels - int(writer.class_pixels.sum()),
            "class_pixels": dict(zip(prep.classes, writer.class_pixels.tolist())),
            "windows": len(windows), "stride": stride, "chip": chip, "tta": tta,
            "seconds": seconds, "pixels_per_second": pixels / max(seconds, 1e-9),
            "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory (MB): Linux's VmHWM (which, unlike ru_maxrss,
    does not carry over a parent's peak through fork and exec), else ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _blend(model, prep, scene, windows: list[Window], writer, batch_size: int, tta: bool,
           device: torch.device) -> None:
    """Accumulate weighted probabilities row of windows by row, handing finished rows on."""
    chip, classes = prep.chip_size, len(prep.classes)
    weight = hann_weight(chip)
    total = np.zeros((classes, chip, scene.width), np.float32)  # rows top .. top + chip
    weights = np.zeros((chip, scene.width), np.float32)
    tops = sorted({window.row_off for window in windows})
    cols = sorted({window.col_off for window in windows})
    for index, top in enumerate(tops):
        values, valid = scene.read(Window(0, top, scene.width, chip))
        strip = prep.standardise(values, valid)  # (C, chip, width)
        for start in range(0, len(cols), batch_size):
            batch = cols[start:start + batch_size]
            x = torch.from_numpy(np.stack([strip[:, :, c:c + chip] for c in batch]))
            probs = _predict(model, x.to(device), tta).float().cpu().numpy()
            for col, p in zip(batch, probs):
                total[:, :, col:col + chip] += p * weight
                weights[:, col:col + chip] += weight
        # Rows above the next row of windows are final; the last row finishes the scene.
        done = (tops[index + 1] if index + 1 < len(tops) else scene.height) - top
        writer.add(total[:, :done] / weights[:done], valid[:done])
        total[:, :chip - done] = total[:, done:].copy()
        total[:, chip - done:] = 0
        weights[:chip - done] = weights[done:].copy()
        weights[chip - done:] = 0


def _predict(model, x: torch.Tensor, tta: bool) -> torch.Tensor:
    """Softmax probabilities (N, K, h, w); with ``tta`` the mean over the 8 symmetries of
    the square (each prediction turned back before averaging)."""
    if not tta:
        return torch.softmax(model(x), dim=1)
    variants = [(turns, flip) for turns in range(4) for flip in (False, True)]
    inputs = []
    for turns, flip in variants:
        turned = torch.rot90(x, turns, (2, 3))
        inputs.append(turned.flip(3) if flip else turned)
    outputs = torch.softmax(model(torch.cat(inputs)), dim=1).split(len(x))
    total = torch.zeros_like(outputs[0])
    for (turns, flip), y in zip(variants, outputs):
        total += torch.rot90(y.flip(3) if flip else y, -turns, (2, 3))
    return total / len(variants)


class _MapWriter:
    """The output GeoTIFF(s), written a row of tiles at a time under temporary names."""

    def __init__(self, scene, prep, out: Path, probabilities: bool, tags: dict):
        self.values = np.asarray(prep.class_values, dtype=np.int64)
        dtype, self.nodata = _class_dtype(self.values)
        self.dtype = np.dtype(dtype)
        self.class_pixels = np.zeros(len(self.values), np.int64)
        self.width, self.height = scene.width, scene.height
        self.pending: list[tuple[np.ndarray, np.ndarray | None]] = []
        self.pending_rows = self.written = 0
        self.targets = [out]
        self.probabilities_path = probabilities_path(out) if probabilities else None
        if probabilities:
            self.targets.insert(0, self.probabilities_path)  # renamed first, the map last
        self.temporaries = [path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
                            for path in self.targets]
        self.datasets: list = []
        self._stack = ExitStack()
        profile = {"driver": "GTiff", "width": scene.width, "height": scene.height,
                   "crs": scene.dataset.crs, "transform": scene.dataset.transform,
                   "tiled": True, "blockxsize": TILE, "blockysize": TILE,
                   "compress": "deflate", "BIGTIFF": "IF_SAFER"}
        tags = {"CLASSES": ";".join(f"{v}={n}" for v, n in zip(prep.class_values, prep.classes)),
                **tags}
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            for path, temporary in zip(self.targets, self.temporaries):
                is_map = path == out
                dataset = self._stack.enter_context(rasterio.open(
                    temporary, "w", **profile, count=1 if is_map else len(self.values),
                    dtype=dtype if is_map else "float32",
                    nodata=self.nodata if is_map else PROBABILITY_NODATA))
                dataset.descriptions = ("class",) if is_map else tuple(
                    f"p_{name}" for name in prep.classes)
                dataset.update_tags(**tags)
                self.datasets.append(dataset)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.map = self.datasets[-1]

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        self._stack.close()
        for temporary in self.temporaries:  # nothing left once finish() has renamed them
            temporary.unlink(missing_ok=True)

    def add(self, probs: np.ndarray, valid: np.ndarray) -> None:
        """Finished rows: (K, rows, width) probabilities and (rows, width) valid pixels."""
        best = probs.argmax(axis=0)
        self.class_pixels += np.bincount(best[valid], minlength=len(self.values))
        classes = np.where(valid, self.values[best], self.nodata).astype(self.dtype)
        kept = np.where(valid, probs, np.float32(PROBABILITY_NODATA)) \
            if self.probabilities_path else None
        self.pending.append((classes, kept))
        self.pending_rows += len(classes)
        while self.pending_rows >= TILE:
            self._flush(TILE)

    def finish(self) -> None:
        if self.pending_rows:
            self._flush(self.pending_rows)
        if self.written != self.height:
            raise RuntimeError(f"wrote {self.written} of {self.height} rows")
        self._stack.close()
        for temporary, target in zip(self.temporaries, self.targets):
            os.replace(temporary, target)

    def _flush(self, rows: int) -> None:
        classes = np.concatenate([c for c, _ in self.pending])
        window = Window(0, self.written, self.width, rows)
        self.map.write(classes[:rows], 1, window=window)
        rest = [classes[rows:]]
        if self.probabilities_path:
            probs = np.concatenate([p for _, p in self.pending], axis=1)
            self.datasets[0].write(probs[:, :rows], window=window)
            rest.append(probs[:, rows:])
        else:
            rest.append(None)
        self.pending = [tuple(rest)] if len(rest[0]) else []
        self.pending_rows -= rows
        self.written += rows


def _class_dtype(values: np.ndarray) -> tuple[str, int]:
    """The smallest type holding every class value with a nodata value left over."""
    if values.min() >= 0 and values.max() <= 254:
        return "uint8", 255
    if values.min() >= 0 and values.max() <= 65534:
        return "uint16", 65535
    return "int32", int(np.iinfo(np.int32).min)
