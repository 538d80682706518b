"""Scenario 3's image workloads: the samples, the CNN every tool trains, and the files they read.

Two workloads, both classification with cross-entropy:

- **3a, digits**: scikit-learn's 1,797 8×8 grey digits, 80 % train / 20 % validation (a
  permutation seeded with the seed); conv 16 k3 relu, max-pool 2, conv 32 k3 relu, global
  average pool, dense head to 10 classes.
- **3b, frames**: 20,000 radar-like 32×32 single-channel frames from
  ``trainwise.datasets.frames.make_frame_sessions`` (4 gestures × 50 sessions × 100 frames,
  deterministic for a seed, no download), split by session: every fifth session of each
  gesture validates (16,000 / 4,000 frames); three blocks of conv k3 relu + max-pool 2
  (16, 32, 64 filters), global average pool, dense head to 4 classes.

``prepare_images`` writes, like ``scenarios.prepare`` for tables:

- ``data.npz``: ``x_train`` (N, C, H, W) float32 standardised per channel with the training
  samples' mean and population std, ``y_train`` (N,) int64 class indices, ``x_val``,
  ``y_val``, and the initial weights ``w0, b0, ...`` in PyTorch layout (conv (out, in, kh, kw),
  dense (out, in)), drawn as ``trainwise.fit`` draws them;
- ``train.npz`` / ``val.npz``: the raw samples as ``x``/``y`` pairs, which trainwise reads
  (``data.split.method: files``) and standardises itself, per channel, fitted on train.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The layer lists, written as trainwise's model.layers; the peers translate them (see
# peers/torch_common.make_cnn and peers/keras_runner). Padding is 'same' (trainwise's default).
DIGITS_LAYERS = (
    {"type": "conv2d", "filters": 16, "kernel": 3, "activation": "relu"},
    {"type": "maxpool2d", "size": 2},  # (16, 4, 4)
    {"type": "conv2d", "filters": 32, "kernel": 3, "activation": "relu"},
    {"type": "globalavgpool"},  # (32,)
)
FRAMES_LAYERS = (
    {"type": "conv2d", "filters": 16, "kernel": 3, "activation": "relu"},
    {"type": "maxpool2d", "size": 2},  # (16, 16, 16)
    {"type": "conv2d", "filters": 32, "kernel": 3, "activation": "relu"},
    {"type": "maxpool2d", "size": 2},  # (32, 8, 8)
    {"type": "conv2d", "filters": 64, "kernel": 3, "activation": "relu"},
    {"type": "maxpool2d", "size": 2},  # (64, 4, 4)
    {"type": "globalavgpool"},  # (64,)
)
FRAME_SESSIONS_PER_CLASS = 50
FRAMES_PER_SESSION = 100  # 4 classes × 50 sessions × 100 frames = 20,000 frames
VAL_EVERY = 5  # every fifth session of a gesture validates


@dataclass(frozen=True)
class Images:
    """One workload's raw samples, channels first, and integer class labels."""

    x_train: np.ndarray  # (N, C, H, W) float32, raw
    y_train: np.ndarray  # (N,) int64
    x_val: np.ndarray  # (M, C, H, W) float32, raw
    y_val: np.ndarray  # (M,) int64
    kind: str  # trainwise's data.kind: "images" or "frames"
    n_classes: int


def digits(seed: int) -> Images:
    """scikit-learn's 8×8 digits (values 0..16), 80/20 by a permutation seeded by ``seed``."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(len(x) * 0.8)
    train, val = order[:cut], order[cut:]
    return Images(x[train], y[train], x[val], y[val], "images", 10)


def frames(seed: int) -> Images:
    """20,000 generated 32×32 gesture frames, split by recording session (see the module doc)."""
    from trainwise.datasets.frames import make_frame_sessions

    with tempfile.TemporaryDirectory(prefix="bench-frames-") as folder:
        info = make_frame_sessions(Path(folder) / "sessions", FRAME_SESSIONS_PER_CLASS,
                                   FRAMES_PER_SESSION, classes=4, range_bins=32, sweeps=32,
                                   seed=seed)
        sessions = [np.load(path) for path in info["files"]]  # (F, 32, 32) each, class by class
    parts: dict[bool, tuple[list, list]] = {True: ([], []), False: ([], [])}
    for index, stack in enumerate(sessions):
        label, within_class = divmod(index, FRAME_SESSIONS_PER_CLASS)
        xs, ys = parts[within_class % VAL_EVERY == VAL_EVERY - 1]
        xs.append(stack[:, None])  # (F, 1, 32, 32)
        ys.append(np.full(len(stack), label, dtype=np.int64))
    (x_val, y_val), (x_train, y_train) = ((np.concatenate(a).astype(np.float32), np.concatenate(b))
                                          for a, b in (parts[True], parts[False]))
    return Images(x_train, y_train, x_val, y_val, "frames", len(info["classes"]))


def channel_scaled(images: Images, scaling: Images) -> tuple[np.ndarray, np.ndarray]:
    """``images``' train and val samples standardised per channel with ``scaling``'s training
    samples' mean and population std (float64 sums, as trainwise's ``ArrayPreprocessor``)."""
    axes = (0, 2, 3)
    mean = scaling.x_train.astype(np.float64).mean(axis=axes, keepdims=True)  # (1, C, 1, 1)
    std = scaling.x_train.astype(np.float64).std(axis=axes, keepdims=True)
    std[std == 0] = 1.0
    return tuple(((x - mean) / std).astype(np.float32) for x in (images.x_train, images.x_val))


def cnn_weights(layers: tuple[dict, ...], sample_shape: tuple[int, ...], n_classes: int,
                seed: int, init: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The CNN's starting weights, drawn exactly as ``trainwise.fit`` draws them.

    ``fit`` seeds torch with ``train.seed`` and then builds the layer stack (its trial passes
    leave the RNG alone), so the same build after the same seed gives the same tensors; the
    trainwise runner checks that they match.

    Returns:
        ``(weight, bias)`` per conv and dense layer in order, the head last; PyTorch layout.
    """
    import torch

    from trainwise.config.model import ModelConfig
    from trainwise.models.build import build_model

    model_cfg = ModelConfig(name="cnn", layers=list(layers),
                            init="glorot_uniform" if init == "glorot" else "default")
    torch.manual_seed(seed)
    model = build_model(model_cfg, sample_shape, n_classes)
    tensors = [tensor.detach().numpy().copy() for tensor in model.state_dict().values()]
    return list(zip(tensors[0::2], tensors[1::2]))


def write_image_files(images: Images, scaling: Images, weights: list, folder: Path,
                      prefix: str) -> tuple[Path, Path, Path]:
    """``data.npz`` (standardised, with weights) and the raw ``train.npz`` / ``val.npz``."""
    x_train, x_val = channel_scaled(images, scaling)
    arrays, train, val = (folder / f"{prefix}{name}.npz" for name in ("data", "train", "val"))
    np.savez(arrays, x_train=x_train, y_train=images.y_train, x_val=x_val, y_val=images.y_val,
             **{f"{kind}{i}": w for i, (weight, bias) in enumerate(weights)
                for kind, w in (("w", weight), ("b", bias))})
    np.savez(train, x=_as_given(images.x_train, images.kind), y=images.y_train)
    np.savez(val, x=_as_given(images.x_val, images.kind), y=images.y_val)
    return arrays, train, val


def _as_given(x: np.ndarray, kind: str) -> np.ndarray:
    """Samples as a user saves them: frames as (N, H, W) (trainwise adds the channel), images
    channels first (N, C, H, W)."""
    return x[:, 0] if kind == "frames" else x


def head(images: Images, rows: int) -> Images:
    """``rows`` training and validation samples spread evenly over the sets (the warm-up's
    data): the frames are stored class by class, and trainwise's baselines need two classes."""
    train, val = (np.linspace(0, len(y) - 1, min(rows, len(y))).astype(int)
                  for y in (images.y_train, images.y_val))
    return Images(images.x_train[train], images.y_train[train], images.x_val[val],
                  images.y_val[val], images.kind, images.n_classes)
