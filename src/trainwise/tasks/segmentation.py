"""Segmentation: a class per pixel, with ignored pixels (nodata, unlabelled, other splits)
kept out of the loss, the metrics and the baselines.

The classification losses apply per pixel through ``PixelLoss``; class weights ``balanced``
come from the training chips' pixel counts. The final metrics are per-class IoU, F1,
precision and recall, mean IoU, pixel accuracy and the pixel confusion matrix, all from one
confusion matrix accumulated chunk by chunk.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from trainwise.baselines import compute_baselines
from trainwise.segmentation_metrics import confusion_from_logits, metrics_from_confusion
from trainwise.tasks.base import CHUNK_VALUES, SplitResult
from trainwise.tasks.classification import Classification, focal_alpha
from trainwise.training.losses import build_loss
from trainwise.training.losses.class_factors import per_class_values
from trainwise.training.losses.pixels import IGNORE_LABEL, PixelLoss, pixel_class_weights

BASELINE_PIXELS = 20_000  # labelled pixels per split the constant and linear references read


class Segmentation(Classification):
    """Pixel accuracy while training; IoU and friends at the end (see the module docstring).

    A classification of pixels: its config checks and its live validation confusion matrix
    (which counts labelled pixels) are the classifier's.
    """

    name = "segmentation"
    running_metric = "pixel_accuracy"

    def loss(self, cfg, prep, y_train: torch.Tensor, device: torch.device):
        return PixelLoss(self.pixel_loss(cfg, prep, y_train)).to(device)

    def pixel_loss(self, cfg, prep, y_train: torch.Tensor):
        """The loss of one pixel row: the configured classification loss."""
        return build_loss(cfg.task, class_weights(cfg, prep, y_train), focal_alpha(cfg, prep))

    def loss_notes(self, cfg, prep, y_train: torch.Tensor) -> dict:
        weights = class_weights(cfg, prep, y_train)
        if weights is None:
            return {}
        return {"class_weights": {
            "values": dict(zip(prep.classes, (float(f"{w:.6g}") for w in weights.tolist()))),
            "configured": cfg.task.class_weights,
            "applied_to": "training and validation loss, per labelled pixel"}}

    def baselines(self, cfg, data) -> dict:
        """The references on labelled pixels: a constant (the class shares) and a per-pixel
        logistic regression on the bands, scored with the run's loss per pixel."""
        pixels = {split: _pixel_rows(x, y) for split, (x, y) in data.arrays.items()
                  if split in ("train", "val") and len(y)}
        loss_fn = self.pixel_loss(cfg, data.preprocessor,
                                  torch.from_numpy(data.arrays["train"][1]))
        return compute_baselines(pixels, "classification", data.preprocessor.n_outputs, loss_fn)

    def evaluate_split(self, model, cfg, data, split: str, outputs=None) -> SplitResult:
        # Pixels are scored chunk by chunk here; ``outputs`` (raw outputs kept from
        # validation) is not read.
        features, targets = data.arrays[split]
        prep = data.preprocessor
        confusion = torch.zeros(prep.n_outputs, prep.n_outputs, dtype=torch.int64)
        per_chip = []
        chips = max(1, CHUNK_VALUES // math.prod(features.shape[1:]))
        with torch.inference_mode():
            for start in range(0, len(features), chips):
                logits = model(torch.from_numpy(features[start:start + chips]))
                labels = torch.from_numpy(targets[start:start + chips])
                confusion += confusion_from_logits(logits, labels, prep.n_outputs)
                per_chip.append(_chip_accuracy(logits, labels))
        labelled, correct = (torch.cat(parts).numpy() for parts in zip(*per_chip))
        rows = pd.DataFrame({"split": split, "labelled_pixels": labelled,
                             "pixel_accuracy": np.where(labelled > 0,
                                                        correct / np.maximum(labelled, 1),
                                                        np.nan)})
        return SplitResult(metrics_from_confusion(confusion.numpy(), prep.classes), rows)

    def predict(self, model, features: np.ndarray, prep, cfg) -> pd.DataFrame:
        """Per chip, the share of its pixels predicted as each class (``share_<class>``);
        whole maps come from ``trainwise segment``."""
        counts = []
        chips = max(1, CHUNK_VALUES // math.prod(features.shape[1:]))
        with torch.inference_mode():
            for start in range(0, len(features), chips):
                predicted = model(torch.from_numpy(features[start:start + chips])).argmax(dim=1)
                counts.append(torch.nn.functional.one_hot(predicted.flatten(1), prep.n_outputs)
                              .sum(dim=1))
        shares = torch.cat(counts).double() / math.prod(features.shape[2:])
        return pd.DataFrame(shares.numpy(), columns=[f"share_{name}" for name in prep.classes])

    def metrics(self, prep, outputs: np.ndarray, targets: np.ndarray) -> dict:
        confusion = confusion_from_logits(torch.from_numpy(outputs), torch.from_numpy(targets),
                                          prep.n_outputs)
        return metrics_from_confusion(confusion.numpy(), prep.classes)


def class_weights(cfg, prep, y_train: torch.Tensor) -> torch.Tensor | None:
    """``task.class_weights`` per class; 'balanced' from the training chips' labelled pixels."""
    weights = cfg.task.class_weights
    if weights is None:
        return None
    if weights == "balanced":
        return pixel_class_weights(y_train, prep.n_outputs)
    return torch.tensor(per_class_values(weights, prep.classes, "task.class_weights"),
                        dtype=torch.float32)


def _pixel_rows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``BASELINE_PIXELS`` labelled pixels as rows: (bands (P, C), labels (P,))."""
    labelled = np.flatnonzero(y.reshape(-1) != IGNORE_LABEL)
    chosen = np.sort(np.random.default_rng(0).permutation(labelled)[:BASELINE_PIXELS])
    chip, pixel = np.divmod(chosen, y.shape[1] * y.shape[2])
    bands = np.moveaxis(x, 1, -1).reshape(len(x), -1, x.shape[1])  # (N, h*w, C)
    return bands[chip, pixel], y.reshape(-1)[chosen]


def _chip_accuracy(logits: torch.Tensor, labels: torch.Tensor):
    """Each chip's labelled pixels and correctly classified ones, (N,) each."""
    labelled = labels != IGNORE_LABEL
    correct = (logits.argmax(dim=1) == labels) & labelled
    return labelled.flatten(1).sum(1), correct.flatten(1).sum(1)
