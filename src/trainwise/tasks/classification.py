"""Classification: logits per class; class weights and focal alpha resolved per class."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from trainwise.callbacks.confusion_recorder import CONFUSION_FILE, ValidationConfusion
from trainwise.metrics import classification_metrics
from trainwise.tasks.base import Task, model_outputs
from trainwise.training.losses import balanced_class_weights, build_loss
from trainwise.training.losses.class_factors import focal_alpha_values, per_class_values


class Classification(Task):
    """Accuracy while training; accuracy, balanced accuracy, F1, PR-AUC and the confusion
    matrix at the end; the predicted class and ``prob_<class>`` per row."""

    name = "classification"
    running_metric = "accuracy"

    def check(self, cfg, prep) -> None:
        """Per-class config values that do not fit the classes stop here."""
        task = cfg.task
        if isinstance(task.class_weights, (list, dict)):
            per_class_values(task.class_weights, prep.classes, "task.class_weights")
        if task.focal_alpha is not None:
            focal_alpha_values(task.focal_alpha, prep.classes)

    def loss(self, cfg, prep, y_train: torch.Tensor, device: torch.device):
        weights = class_weights(cfg, prep, y_train)
        alpha = focal_alpha(cfg, prep)
        return build_loss(cfg.task, weights, alpha).to(device)

    def loss_notes(self, cfg, prep, y_train: torch.Tensor) -> dict:
        """The class weights and focal alpha in force, per class name."""
        classes = [str(name) for name in prep.classes]
        notes = {}
        factors = {"class_weights": class_weights(cfg, prep, y_train),
                   "focal_alpha": focal_alpha(cfg, prep)}
        for key, values in factors.items():
            if values is not None:
                # The trainer's loss scores validation rows too: say so in the record.
                rounded = [float(f"{value:.6g}") for value in values.tolist()]  # float32 noise
                notes[key] = {"values": dict(zip(classes, rounded)),
                              "configured": getattr(cfg.task, key),
                              "applied_to": "training and validation loss"}
        return notes

    def callbacks(self, cfg, data, run_dir) -> list:
        # For live readers (trainwise serve): the validation confusion matrix per epoch.
        if not data.has_validation:
            return []
        return [ValidationConfusion(run_dir.file(CONFUSION_FILE), data.preprocessor.classes)]

    def metrics(self, prep, outputs: np.ndarray, targets: np.ndarray) -> dict:
        # The model gives logits; precision-recall AUC needs probabilities.
        probabilities = torch.softmax(torch.from_numpy(outputs).double(), dim=-1).numpy()
        return classification_metrics(targets, outputs.argmax(axis=1), prep.classes,
                                      probabilities)

    def prediction_rows(self, prep, split: str, outputs: np.ndarray,
                        targets: np.ndarray) -> pd.DataFrame:
        """Also each row's ``confidence`` (the predicted class's probability) and ``loss``
        (``-log p(actual)``, plain cross-entropy: no class weights or focal factor, so runs
        compare), from the same logits: what the top-losses views sort by."""
        log_p = torch.log_softmax(torch.from_numpy(outputs).double(), dim=-1).numpy()
        predicted, rows = outputs.argmax(axis=1), np.arange(len(targets))
        return pd.DataFrame({"split": split, "actual": [prep.classes[i] for i in targets],
                             "predicted": [prep.classes[i] for i in predicted],
                             "confidence": np.exp(log_p[rows, predicted]),
                             "loss": -log_p[rows, np.asarray(targets, dtype=np.int64)]})

    def predict(self, model, features: np.ndarray, prep, cfg) -> pd.DataFrame:
        outputs = model_outputs(model, features)
        probabilities = torch.softmax(torch.from_numpy(outputs), dim=-1).numpy()
        result = pd.DataFrame({f"{prep.target}_pred": [prep.classes[i] for i in
                                                       probabilities.argmax(axis=1)]})
        for i, name in enumerate(prep.classes):
            result[f"prob_{name}"] = probabilities[:, i]
        return result


def class_weights(cfg, prep, y_train: torch.Tensor) -> torch.Tensor | None:
    """``task.class_weights`` per class ('balanced': from the training labels), or None."""
    task = cfg.task
    if task.class_weights is None:
        return None
    if task.class_weights == "balanced":
        return balanced_class_weights(y_train, len(prep.classes))
    weights = per_class_values(task.class_weights, prep.classes, "task.class_weights")
    return torch.tensor(weights, dtype=torch.float32, device=y_train.device)


def focal_alpha(cfg, prep) -> torch.Tensor | None:
    """``task.focal_alpha`` per class, when the loss includes focal."""
    task = cfg.task
    names = task.loss if isinstance(task.loss, dict) else {task.loss}
    if task.focal_alpha is None or "focal" not in names:
        return None
    return torch.tensor(focal_alpha_values(task.focal_alpha, prep.classes),
                        dtype=torch.float32)
