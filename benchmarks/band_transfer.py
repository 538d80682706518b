"""Transfer from fewer bands: a 6-band UNet from random weights vs. copied from an RGB run.

    .venv/bin/python benchmarks/band_transfer.py [--size 512] [--pretrain-epochs 10]
                                                 [--epochs 8] [--seeds 0 1 2]
                                                 [--work DIR] [--out benchmarks/results]

Generates a ``--size`` × ``--size`` 6-band scene (``make_scene``, seed 0) and its RGB copy
(the blue, green and red bands written to a new GeoTIFF under those names: what an RGB run
sees). Trains a UNet on the RGB copy for ``--pretrain-epochs``, then, for each seed, the same
UNet on all six bands for ``--epochs``: (a) from random weights; (b) with ``model.init_from``
the RGB run, ``init_from_strict: false`` (the default rule: blue, green, red copied by name,
nir, swir1, swir2 at zero; every other tensor loaded); (c) the same with ``model.band_map:
{nir: blue, swir1: green, swir2: red}``, which is the published repeat-and-scale recipe
(every filter twice, times 3 / 6). Same split (``data.split.seed`` fixed), same chips and
batch order per seed for every arm.

Prints a Markdown table of the per-epoch validation loss and pixel accuracy, the mean over
seeds side by side, and the final test mean IoU (and per class); writes it as
``band_transfer.md``, with ``band_transfer.json`` (every run's history and metrics, the
settings) and ``band_transfer.png`` (the validation curves), into ``--out``. About 100 s on
two CPU cores with the defaults.

The copy arms start from a network that already trained ``--pretrain-epochs`` on RGB: compare
them with random init at equal 6-band epochs, not at equal total compute.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

RGB = ("blue", "green", "red")
# Each arm's model settings beside model.name etc.; "{source}" becomes the RGB run's path.
ARMS = {
    "random init": {},
    "copy, new bands 0": {"init_from": "{source}", "init_from_strict": False},
    # The published recipe (repeat the RGB filters, scale by 3 / 6) through model.band_map.
    "copy, repeat ×3/6": {"init_from": "{source}", "init_from_strict": False,
                    "band_map": {"nir": "blue", "swir1": "green", "swir2": "red"}},
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch

    from trainwise import fit

    started = time.perf_counter()
    work = Path(args.work or Path(tempfile.gettempdir()) / "trainwise-band-transfer")
    six, rgb = _scenes(work, args.size)
    runs = work / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    source = fit(_config(args, rgb, seed=0, epochs=args.pretrain_epochs, name="rgb"),
                 runs_dir=runs, progress=False)
    results = {"rgb source": [_summary(source)]}
    for arm, settings in ARMS.items():
        results[arm] = []
        model = {key: str(source.path) if value == "{source}" else value
                 for key, value in settings.items()}
        for seed in args.seeds:
            cfg = _config(args, six, seed=seed, epochs=args.epochs, name=f"six-{seed}", **model)
            results[arm].append(_summary(fit(cfg, runs_dir=runs, progress=False)))
    elapsed = time.perf_counter() - started
    table = _table(results, args, elapsed)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {key: value for key, value in vars(args).items() if key not in ("out", "work")}
    (out / "band_transfer.json").write_text(json.dumps({
        "settings": settings, "config": _config(args, six, 0, args.epochs, "six"),
        "seconds": round(elapsed, 1), "torch": torch.__version__,
        "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
        "runs": results, "table": table}, indent=1))
    (out / "band_transfer.md").write_text(table + "\n")
    _plot(results, out / "band_transfer.png")
    print(f"\nwrote {out / 'band_transfer.json'}, band_transfer.md and band_transfer.png "
          f"({elapsed:.0f} s)", file=sys.stderr)
    return 0


def _scenes(work: Path, size: int) -> tuple[Path, Path]:
    """The 6-band scene (made once per size, reused) and its RGB copy."""
    import rasterio

    from trainwise.datasets.scene import make_scene

    six, rgb = work / f"scene-{size}", work / f"scene-{size}-rgb"
    if not (six / "README.txt").is_file():
        make_scene(six, size=size, seed=0)
    if not (rgb / "scene.tif").is_file():
        rgb.mkdir(parents=True, exist_ok=True)
        for name in ("labels.tif", "classes.csv"):
            shutil.copy(six / name, rgb / name)
        with rasterio.open(six / "scene.tif") as src:
            names = list(src.descriptions)
            profile = src.profile
            values = src.read(indexes=[names.index(band) + 1 for band in RGB])
        profile.update(count=len(RGB))
        with rasterio.open(rgb / "scene.tif", "w", **profile) as dst:
            dst.write(values)
            dst.descriptions = RGB
    return six, rgb


def _config(args, scene: Path, seed: int, epochs: int, name: str, **model) -> dict:
    return {
        "name": name,
        "data": {"kind": "raster", "source": str(scene / "scene.tif"),
                 "raster": {"labels": str(scene / "labels.tif"), "chip_size": args.chip,
                            "train_chips": args.train_chips},
                 "split": {"method": "spatial_blocks", "block_size": args.block_size,
                           "folds": 4, "val": 0.25, "seed": 0},
                 "augment": {"hflip": 0.5, "rot90": 0.5}},
        "task": {"type": "segmentation", "class_weights": "balanced"},
        "model": {"name": "unet", "depth": args.depth, "width": args.width,
                  "batch_norm": True, **model},
        "train": {"epochs": epochs, "batch_size": args.batch_size, "lr": args.lr,
                  "seed": seed, "early_stopping": {"enabled": False}},
    }


def _summary(run) -> dict:
    return {"path": str(run.path),
            "val_loss": [record["val_loss"] for record in run.history],
            "val_pixel_accuracy": [record["val_pixel_accuracy"] for record in run.history],
            "test_mean_iou": run.metrics["test"]["mean_iou"],
            "test_pixel_accuracy": run.metrics["test"]["pixel_accuracy"],
            "test_iou": {name: item["iou"] for name, item
                         in run.metrics["test"]["per_class"].items()},
            "seconds": round(sum(record["epoch_time_s"] for record in run.history), 1)}


def _mean(runs: list[dict], key: str) -> list[float]:
    return [statistics.fmean(values) for values in zip(*(run[key] for run in runs))]


def _spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.3f} ± {std:.3f}"


def _table(results: dict, args, elapsed: float) -> str:
    arms = list(ARMS)
    lines = [f"Validation per epoch, mean over seeds {args.seeds} (6-band UNet depth "
             f"{args.depth}, width {args.width}; scene {args.size} px, chip {args.chip}, "
             f"{args.train_chips} training chips; RGB source: {args.pretrain_epochs} epochs)",
             "",
             "| epoch | " + " | ".join(f"val loss, {arm}" for arm in arms) + " | "
             + " | ".join(f"val pixel acc, {arm}" for arm in arms) + " |",
             "| ---: " * (1 + 2 * len(arms)) + "|"]
    columns = [_mean(results[arm], "val_loss") for arm in arms] + \
        [_mean(results[arm], "val_pixel_accuracy") for arm in arms]
    for epoch, values in enumerate(zip(*columns), start=1):
        lines.append(f"| {epoch} | " + " | ".join(f"{value:.3f}" for value in values) + " |")
    source = results["rgb source"][0]
    classes = list(source["test_iou"])
    lines += ["", "| final (test split) | mean IoU | pixel acc | mean IoU per seed | "
              + " | ".join(f"IoU {name}" for name in classes) + " |",
              "| --- | ---: | ---: | --- |" + " ---: |" * len(classes)]
    rows = [(f"6 bands, {arm}", results[arm]) for arm in arms]
    rows.append((f"RGB source ({args.pretrain_epochs} epochs)", [source]))
    for label, runs in rows:
        per_class = [statistics.fmean(run["test_iou"][name] or 0.0 for run in runs)
                     for name in classes]
        lines.append(f"| {label} | {_spread([r['test_mean_iou'] for r in runs])} | "
                     f"{_spread([r['test_pixel_accuracy'] for r in runs])} | "
                     + ", ".join(f"{r['test_mean_iou']:.3f}" for r in runs) + " | "
                     + " | ".join(f"{value:.3f}" for value in per_class) + " |")
    lines += ["", f"mean ± standard deviation over seeds; total {elapsed:.0f} s."]
    return "\n".join(lines)


def _plot(results: dict, path: Path) -> None:
    from trainwise.reports.figure import new_figure, save_figure

    figure, first = new_figure(10.0, 3.8, layout="constrained")
    first.remove()
    axes = figure.subplots(1, 2)
    for axis, key, label in ((axes[0], "val_loss", "validation loss"),
                             (axes[1], "val_pixel_accuracy", "validation pixel accuracy")):
        for arm, color in zip(ARMS, ("tab:grey", "tab:blue", "tab:orange")):
            for run in results[arm]:
                axis.plot(range(1, len(run[key]) + 1), run[key], color=color, alpha=0.25,
                          linewidth=1)
            mean = _mean(results[arm], key)
            axis.plot(range(1, len(mean) + 1), mean, color=color, linewidth=2,
                      label=f"{arm} (mean of {len(results[arm])})")
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[1].legend()
    figure.suptitle("6-band UNet: random init vs. first convolution copied from an RGB run")
    save_figure(figure, path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512, help="scene pixels per side")
    parser.add_argument("--pretrain-epochs", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=8, help="epochs of each 6-band run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--chip", type=int, default=64)
    parser.add_argument("--train-chips", type=int, default=128)
    parser.add_argument("--block-size", type=float, default=1280.0, help="metres (10 m pixels)")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--work", help="scenes and runs (default: a folder in the temp dir)")
    parser.add_argument("--out", default="benchmarks/results")
    return parser


if __name__ == "__main__":
    sys.exit(main())
