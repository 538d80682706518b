"""The validation confusion matrix while a classifier (or a segmentation model, counting
pixels) trains, for live readers."""

from __future__ import annotations

import time
from pathlib import Path

from trainwise.atomic import write_json_atomic
from trainwise.callbacks.base import Callback
from trainwise.segmentation_metrics import confusion_from_logits

CONFUSION_FILE = "confusion_val.json"
# At most one matrix every half second: a live page cannot show more, and a fast run (a few
# milliseconds per epoch) must not pay a forward pass and an fsync'ed write every epoch.
WRITE_EVERY_S = 0.5


class ValidationConfusion(Callback):
    """Writes the validation confusion matrix to ``confusion_val.json`` as epochs end.

    The file is ``{"split": "val", "epoch", "classes", "matrix"}`` with
    ``matrix[true][predicted]`` counts, rewritten atomically at most every ``every_s``
    seconds and always after the last epoch (the planned last, or one early stopping ends
    on). It costs one forward pass over the validation rows in eval mode, which draws no
    random numbers, so a resumed run stays exact. Does nothing without validation rows.

    Args:
        path: the JSON file to write.
        classes: the class names, in the model's output order.
        every_s: the least seconds between two writes.

    Example:
        >>> ValidationConfusion("runs/x/confusion_val.json", ["a", "b"])  # doctest: +SKIP
    """

    def __init__(self, path: str | Path, classes: list, every_s: float = WRITE_EVERY_S):
        self.path = Path(path)
        self.classes = [str(name) for name in classes]
        self.every_s = every_s
        self._next_write = 0.0

    def on_train_begin(self, trainer) -> None:
        self._next_write = 0.0

    def on_epoch_end(self, trainer, record: dict) -> None:
        if trainer.validation is None:
            return
        now = time.monotonic()
        last = trainer.state.epoch >= trainer.epochs or trainer.state.stop_training
        if now < self._next_write and not last:
            return
        self._next_write = now + self.every_s
        write_json_atomic(self.path, {"split": "val", "epoch": record["epoch"],
                                      "classes": self.classes,
                                      "matrix": self.matrix(trainer)})

    def matrix(self, trainer) -> list[list[int]]:
        """Counts ``[true][predicted]`` over the validation rows (one read from the device)."""
        features, targets = trainer.validation
        # This epoch's validation outputs when the trainer kept them (same weights), else a
        # pass of our own.
        kept = getattr(trainer, "last_validation", None)
        outputs = kept and kept.for_model(trainer.model, trainer.state.global_step)
        if outputs is None or len(outputs) != len(targets):
            outputs = trainer.predict(features)
        # Rows (N, K) or pixels (N, K, H, W); ignored pixels (segmentation) are not counted.
        return confusion_from_logits(outputs, targets, len(self.classes)).tolist()
