"""The benchmark scenarios: what is trained, on which data, and the files every tool reads.

Every tool of one invocation trains on the same arrays and starts from the same weights. The
runner calls ``prepare`` once, which writes into a scratch folder:

- ``data.npz``: standardised float32 ``x_train`` (N, F), ``y_train`` (N,), ``x_val``,
  ``y_val``, and the initial weights ``w0, b0, w1, b1, ...`` (PyTorch layout: (out, in));
- ``train.parquet`` / ``val.parquet``: the same rows before standardisation, for trainwise,
  which standardises them itself (fitted on the train rows, population std, as here);
- ``warmup_*``: the same three files for the first few batches of rows, which each worker
  trains on for one epoch before its clock starts (see ``worker.py``).

So the validation loss of every tool is a mean squared error in standardised target units.

Scenario 3's CNN workloads (3a digits, 3b frames) write the same kind of files from
``images.py``: standardised image arrays and initial weights, and the raw samples as ``.npz``
for trainwise; their validation loss is a cross-entropy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

import images

# The TensorFlow "basic regression" tutorial's shape: rows with a horsepower, 80 % of them
# (random_state 0) for training, of which Keras' validation_split=0.2 keeps the first 251.
AUTO_MPG_TRAIN_ROWS = 251
# The untimed warm-up run trains one epoch on this many batches of rows.
WARMUP_BATCHES = 4
SWEEP_LRS = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2)


@dataclass(frozen=True)
class Table:
    """One scenario's rows: raw frames for trainwise and the standardised arrays for the rest."""

    train: pd.DataFrame  # raw features and target, training rows
    val: pd.DataFrame  # raw features and target, validation rows
    target: str  # the target column's name


@dataclass(frozen=True)
class Scenario:
    """A workload every tool trains in the same way.

    Args:
        number: as on the command line (``--scenario``), e.g. "1" or "3a".
        title: one line for the results table.
        hidden: hidden layer sizes of the MLP (relu), one output.
        layers: a CNN as trainwise's ``model.layers`` (then ``load`` gives ``images.Images``
            and the task is classification); empty: the MLP of ``hidden``.
        batch_size: rows per optimizer step.
        epochs: default passes over the training rows (``--epochs`` overrides).
        lrs: Adam learning rates; several make a sweep, trained one after another.
        load: builds the table from a seed; None when the scenario cannot run (see ``skip``).
        skip: why the scenario is skipped, or None.
        notes: lines for the results' header.
    """

    number: str
    title: str
    hidden: tuple[int, ...] = (32, 32)
    layers: tuple[dict, ...] = ()
    batch_size: int = 16
    epochs: int = 700
    lrs: tuple[float, ...] = (1e-3,)
    load: Callable[[int], Table | images.Images] | None = None
    skip: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def model(self) -> str:
        """"cnn" or "mlp": which tools can train it (``peers.Tool.models``)."""
        return "cnn" if self.layers else "mlp"


def auto_mpg(seed: int) -> Table:
    """The bundled Auto MPG table, 7 numeric features, 251 training and 63 validation rows.

    ``origin`` stays a number (1-3), as in the benchmark's 7-feature shape; ``car_name`` goes.
    The split is the tutorial's and ignores ``seed``, so every seed sees the same rows.
    """
    with resources.files("trainwise.datasets").joinpath("auto-mpg.csv").open("r") as handle:
        frame = pd.read_csv(handle).drop(columns=["car_name"]).dropna()  # 392 rows
    pool = frame.sample(frac=0.8, random_state=0)  # (314, 8)
    return Table(pool.iloc[:AUTO_MPG_TRAIN_ROWS].reset_index(drop=True),
                 pool.iloc[AUTO_MPG_TRAIN_ROWS:].reset_index(drop=True), "mpg")


def large_tabular(seed: int, rows: int = 200_000, features: int = 50) -> Table:
    """Generated regression rows: a fixed random tanh "teacher" of the features, plus noise.

    The target is learnable but not linear, so a 256-256-256 MLP has something to fit and
    the validation losses of the tools can be compared. 80 % train, 20 % validation.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features)).astype(np.float32)  # (N, F)
    mixing = rng.standard_normal((features, 16)) / np.sqrt(features)  # (F, 16)
    y = np.tanh(x @ mixing) @ rng.standard_normal(16) + 0.1 * rng.standard_normal(rows)  # (N,)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(features)])
    frame["y"] = y.astype(np.float32)
    cut = int(rows * 0.8)
    return Table(frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True),
                 "y")


SCENARIOS = {
    "1": Scenario("1", "Auto MPG tutorial: Dense 32-32-1, batch 16, validation every epoch",
                load=auto_mpg,
                notes=("Adam lr 1e-3, MSE; 251 training rows, 63 validation rows, 7 features",)),
    "2": Scenario("2", "Large tabular: 200k rows x 50 features, Dense 256-256-256-1, batch 512",
                hidden=(256, 256, 256), batch_size=512, epochs=3, load=large_tabular,
                notes=("Adam lr 1e-3, MSE; 160k training rows, 40k validation rows",
                       "peak RSS is per run: each run is its own process")),
    "3a": Scenario("3a", "Small CNN on scikit-learn's 8x8 digits: conv16-pool-conv32-gap-dense10, "
                   "batch 64", layers=images.DIGITS_LAYERS, batch_size=64, epochs=20,
                   load=images.digits,
                   notes=("Adam lr 1e-3, cross-entropy; 1,437 training and 360 validation images "
                          "(1x8x8), standardised per channel",)),
    "3b": Scenario("3b", "CNN on 20k radar-like 32x32 frames: 3 x (conv-relu-pool) 16/32/64, "
                   "gap, dense 4, batch 128", layers=images.FRAMES_LAYERS, batch_size=128,
                   epochs=3, load=images.frames,
                   notes=("Adam lr 1e-3, cross-entropy; 16,000 training and 4,000 validation "
                          "frames (1x32x32) from make_frame_sessions, split by session",
                          "peak RSS is per run: each run is its own process")),
    "4": Scenario("4", "Learning-rate sweep: 8 rates, Dense 32-32-1 on the Auto MPG rows, batch 16",
                epochs=100, lrs=SWEEP_LRS, load=auto_mpg,
                notes=("the 8 runs of a tool train one after another; the time is for all 8",
                       f"learning rates: {', '.join(f'{lr:g}' for lr in SWEEP_LRS)}")),
}


# Names on the command line that stand for several scenarios.
GROUPS = {"3": ("3a", "3b")}


def skip_reason(scenario: Scenario) -> str | None:
    """Why ``scenario`` cannot run on this trainwise, or None."""
    return scenario.skip


@dataclass(frozen=True)
class Files:
    """One set of inputs: arrays for the peers, raw tables for trainwise (see the module doc)."""

    arrays: Path  # data.npz: standardised arrays and initial weights
    train_table: Path  # raw training rows (Parquet), for trainwise
    val_table: Path  # raw validation rows (Parquet), for trainwise


@dataclass(frozen=True)
class Prepared:
    """Where one invocation's shared inputs lie, and their sizes."""

    files: Files  # the scenario's data
    warmup: Files  # its first WARMUP_BATCHES batches of rows, for the untimed warm-up run
    target: str  # the target column; "" for images
    n_train: int
    n_features: int  # features per sample (an image's C*H*W)
    n_classes: int = 0  # classification: classes; 0: regression
    kind: str = "table"  # trainwise's data.kind for the raw files


def prepare(scenario: Scenario, seed: int, init: str, folder: Path) -> Prepared:
    """Write the scenario's data and initial weights into ``folder``, once for every tool.

    Args:
        scenario: a scenario that can run (``load`` is set).
        seed: seeds generated data and the initial weights.
        init: "torch" (PyTorch's Linear default) or "glorot" (Glorot-uniform weights, zero
            biases: Keras' default).
        folder: an existing scratch folder.

    Returns:
        The paths and sizes the jobs refer to.
    """
    if scenario.layers:
        return _prepare_images(scenario, seed, init, folder)
    table = scenario.load(seed)
    weights = initial_weights(len(table.train.columns) - 1, scenario.hidden, seed, init)
    rows = WARMUP_BATCHES * scenario.batch_size
    warmup = Table(table.train.iloc[:rows], table.val.iloc[:rows], table.target)
    return Prepared(_write_files(table, table, weights, folder, ""),
                    _write_files(warmup, table, weights, folder, "warmup_"),
                    table.target, len(table.train), len(table.train.columns) - 1)


def _prepare_images(scenario: Scenario, seed: int, init: str, folder: Path) -> Prepared:
    """``prepare`` for a CNN scenario (see ``images.py`` for the files)."""
    data = scenario.load(seed)
    weights = images.cnn_weights(scenario.layers, data.x_train.shape[1:], data.n_classes, seed,
                                 init)
    warmup = images.head(data, WARMUP_BATCHES * scenario.batch_size)
    files, warmup_files = (Files(*images.write_image_files(part, data, weights, folder, prefix))
                           for part, prefix in ((data, ""), (warmup, "warmup_")))
    return Prepared(files, warmup_files, "", len(data.x_train),
                    int(np.prod(data.x_train.shape[1:])), data.n_classes, data.kind)


def _write_files(table: Table, scaling: Table, weights: list, folder: Path,
                 prefix: str) -> Files:
    """``table``'s rows as arrays (standardised with ``scaling``'s train rows) and tables."""
    x_train, y_train, x_val, y_val = standardised(table, scaling)
    files = Files(folder / f"{prefix}data.npz", folder / f"{prefix}train.parquet",
                  folder / f"{prefix}val.parquet")
    np.savez(files.arrays, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val,
             **{f"{kind}{i}": w for i, (weight, bias) in enumerate(weights)
                for kind, w in (("w", weight), ("b", bias))})
    table.train.to_parquet(files.train_table)
    table.val.to_parquet(files.val_table)
    return files


def standardised(table: Table, scaling: Table) -> tuple[np.ndarray, ...]:
    """``table``'s features and target scaled by the mean and population std of ``scaling``'s
    training rows, as float32.

    The same statistics trainwise's preprocessing fits (``ddof=0``), so its standardised
    arrays equal these up to float rounding.

    Returns:
        ``x_train`` (N, F), ``y_train`` (N,), ``x_val`` (M, F), ``y_val`` (M,).
    """
    features = [column for column in table.train.columns if column != table.target]
    train_x = scaling.train[features].to_numpy(np.float64)
    train_y = scaling.train[table.target].to_numpy(np.float64)
    mean, std = train_x.mean(axis=0), train_x.std(axis=0)
    std[std == 0] = 1.0
    y_mean, y_std = train_y.mean(), train_y.std() or 1.0

    def scale(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        x = (frame[features].to_numpy(np.float64) - mean) / std
        y = (frame[table.target].to_numpy(np.float64) - y_mean) / y_std
        return x.astype(np.float32), y.astype(np.float32)

    return (*scale(table.train), *scale(table.val))


def initial_weights(n_inputs: int, hidden: tuple[int, ...], seed: int,
                    init: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The MLP's starting weights, drawn exactly as ``trainwise.fit`` draws them.

    ``fit`` seeds torch with ``train.seed`` and builds its MLP before anything else draws, so
    building the same MLP after the same seed gives the same tensors; the trainwise runner
    checks that they match. The other tools load these arrays.

    Returns:
        ``(weight (out, in), bias (out,))`` per Linear layer, input side first.
    """
    import torch

    from trainwise.models.init import initialize_weights
    from trainwise.models.mlp import MLP

    torch.manual_seed(seed)
    model = MLP(n_inputs, 1, list(hidden), "relu")
    initialize_weights(model, "glorot_uniform" if init == "glorot" else "default", "relu")
    linears = [module for module in model.modules() if isinstance(module, torch.nn.Linear)]
    return [(layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy())
            for layer in linears]
