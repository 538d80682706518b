"""Whole-scene mapping: ``segment_scene`` against a plain PyTorch window loop, time and memory.

    .venv/bin/python benchmarks/segment_map.py [--size 4000] [--run RUN --runs-dir runs]
                                               [--stride 32] [--batch-size 8] [--threads N]
                                               [--work DIR] [--tta]

Generates a ``--size`` × ``--size`` scene with ``trainwise.datasets.scene.make_scene`` (kept in
``--work`` and reused), takes ``--run``'s model (default: trains the dev run once — a 384-pixel
scene, chip 64, UNet depth 3 width 16 with batch norm, 3 epochs — into ``--work``) and maps
the scene two ways, each in its own fresh process so its peak memory is its own:

- ``segment_scene``: blended sliding windows, rows of windows at a time, windowed writes of
  a class GeoTIFF (``trainwise segment``);
- ``plain loop``: the same windows (``chips.grid_windows``, same stride and batch size), each
  read with rasterio, standardised, through the model, argmax pasted into a whole-scene
  uint8 array (later windows overwrite, no blending), written at the end in one go: what a
  careful PyTorch user writes first.

Prints a Markdown table: seconds, megapixels per second, windows per second, the process's
peak RSS and its RSS once the model was loaded (the difference is what mapping added), and
how often the two maps agree. Numbers from a shared CPU are noisy; compare within one
invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = ("segment_scene", "plain loop")
DEV_CONFIG = """name: dev
data: {kind: raster, source: segdev/scene.tif,
       raster: {labels: segdev/labels.tif, chip_size: 64, train_chips: 128},
       split: {method: spatial_blocks, block_size: 1280, folds: 5, val: 0.2}}
task: {type: segmentation, class_weights: balanced}
model: {name: unet, depth: 3, width: 16, batch_norm: true}
train: {epochs: 3, batch_size: 16, lr: 0.003, seed: 0}
"""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worker:
        return _worker(args)
    work = Path(args.work or Path(tempfile.gettempdir()) / "trainwise-segment-bench")
    work.mkdir(parents=True, exist_ok=True)
    scene = _scene(work, args.size)
    run = args.run or _dev_run(work)
    runs_dir = args.runs_dir if args.run else str(work / "runs")
    results = {}
    for variant in VARIANTS:
        out = work / f"map-{args.size}-{variant.replace(' ', '_')}.tif"
        command = [sys.executable, __file__, "--worker", variant, "--run", str(run),
                   "--runs-dir", runs_dir, "--scene", str(scene), "--out", str(out),
                   "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
        command += ["--stride", str(args.stride)] if args.stride else []
        command += ["--tta"] if args.tta else []
        finished = subprocess.run(command, capture_output=True, text=True, check=True)
        results[variant] = json.loads(finished.stdout.strip().splitlines()[-1])
        results[variant]["out"] = out
    print(_table(results, args))
    return 0


def _worker(args: argparse.Namespace) -> int:
    """One variant in this (fresh) process; prints its measurements as one JSON line."""
    import torch

    from trainwise.run import load_run

    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_run(args.run, args.runs_dir)
    model, prep = loaded.model, loaded.preprocessor
    loaded_rss = _peak_rss_mb()
    started = time.perf_counter()
    if args.worker == "segment_scene":
        from trainwise.inputs.raster.mapping import segment_scene

        summary = segment_scene(model, prep, args.scene, args.out, stride=args.stride,
                                batch_size=args.batch_size, tta=args.tta)
        windows = summary["windows"]
    else:
        windows = _plain_loop(model, prep, args)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "windows": windows, "loaded_rss_mb": loaded_rss,
                      "peak_rss_mb": _peak_rss_mb(), "threads": torch.get_num_threads()}))
    return 0


def _plain_loop(model, prep, args: argparse.Namespace) -> int:
    import numpy as np
    import rasterio
    import torch

    from trainwise.inputs.raster.chips import grid_windows

    chip = prep.chip_size
    with rasterio.open(args.scene) as scene:
        windows = grid_windows(scene.width, scene.height, chip, args.stride or chip // 2)
        classes = np.zeros((scene.height, scene.width), np.uint8)
        nodata = np.float32(np.nan if scene.nodata is None else scene.nodata)
        with torch.inference_mode():
            for start in range(0, len(windows), args.batch_size):
                batch = windows[start:start + args.batch_size]
                values = np.stack([scene.read(window=w, out_dtype=np.float32) for w in batch])
                valid = ~(values == nodata).any(axis=1)
                x = torch.from_numpy(prep.standardise(values, valid))
                best = model(x).argmax(dim=1).numpy().astype(np.uint8)
                for w, labels, ok in zip(batch, best, valid):
                    classes[w.row_off:w.row_off + chip, w.col_off:w.col_off + chip] = \
                        np.where(ok, np.asarray(prep.class_values, np.uint8)[labels], 255)
        profile = {"driver": "GTiff", "width": scene.width, "height": scene.height, "count": 1,
                   "dtype": "uint8", "crs": scene.crs, "transform": scene.transform,
                   "nodata": 255, "tiled": True, "blockxsize": 256, "blockysize": 256,
                   "compress": "deflate"}
    with rasterio.open(args.out, "w", **profile) as out:
        out.write(classes, 1)
    return len(windows)


def _scene(work: Path, size: int) -> Path:
    from trainwise.datasets.scene import make_scene

    folder = work / f"scene-{size}"
    if not (folder / "README.txt").is_file():
        started = time.perf_counter()
        make_scene(folder, size=size, seed=0)
        print(f"made {folder} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return folder / "scene.tif"


def _dev_run(work: Path) -> Path:
    """The brief's dev run (trained once into ``work``; reused afterwards)."""
    import trainwise
    from trainwise.datasets.scene import make_scene
    from trainwise.yaml_io import load_yaml

    done = sorted((work / "runs").glob("*-dev/model.safetensors"))
    if done:
        return done[-1].parent
    if not (work / "segdev" / "README.txt").is_file():
        make_scene(work / "segdev", size=384, seed=0)
    here = os.getcwd()
    os.chdir(work)  # the config's paths are relative to it
    try:
        run = trainwise.fit(load_yaml(DEV_CONFIG), runs_dir="runs", progress=False)
    finally:
        os.chdir(here)
    return work / run.path if not run.path.is_absolute() else run.path


def _peak_rss_mb() -> float:
    from trainwise.inputs.raster.mapping import peak_rss_mb

    return peak_rss_mb()


def _table(results: dict, args: argparse.Namespace) -> str:
    import numpy as np
    import rasterio

    maps = {}
    for variant, result in results.items():
        with rasterio.open(result["out"]) as dataset:
            maps[variant] = dataset.read(1)
    first, second = maps.values()
    valid = first != 255
    agree = (first[valid] == second[valid]).mean()
    pixels = args.size * args.size
    one = next(iter(results.values()))
    lines = [f"{args.size} x {args.size} scene ({pixels / 1e6:.1f} Mpixel), {one['windows']} "
             f"windows, stride {args.stride or 'chip/2'}, batch {args.batch_size}"
             f"{', TTA x8' if args.tta else ''}, {one['threads']} torch threads; the maps "
             f"agree on {agree:.2%} of the valid pixels",
             "",
             "| variant | seconds | Mpixel/s | windows/s | peak RSS (MB) | RSS with model "
             "loaded (MB) | added (MB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for variant, r in results.items():
        lines.append(f"| {variant} | {r['seconds']:.1f} | {pixels / r['seconds'] / 1e6:.3f} | "
                     f"{r['windows'] / r['seconds']:.0f} | {r['peak_rss_mb']:.0f} | "
                     f"{r['loaded_rss_mb']:.0f} | {r['peak_rss_mb'] - r['loaded_rss_mb']:.0f} |")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4000, help="scene side in pixels")
    parser.add_argument("--run", default=None, help="a raster run (default: train the dev run)")
    parser.add_argument("--runs-dir", default="runs", help="where --run is looked up")
    parser.add_argument("--stride", type=int, default=None, help="default: chip // 2")
    parser.add_argument("--batch-size", type=int, default=8, help="windows per forward pass")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--tta", action="store_true", help="segment_scene with TTA x8")
    parser.add_argument("--work", default=None, help="scenes, the dev run and the maps")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--scene", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser


if __name__ == "__main__":
    sys.exit(main())
