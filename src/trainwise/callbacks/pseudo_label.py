"""Pseudo-labelling: the model labels the unlabelled rows it is sure of, and trains on them too.

Round ``r`` (1, 2, ..., ``rounds``) starts when ``warmup_epochs + (r - 1) * every_epochs``
epochs are complete: the model, in eval mode, predicts every unlabelled row once; the rows
whose top softmax probability is at least ``threshold`` get that class as their label, and
from then on each epoch trains on the labelled rows (weight 1) and these rows (weight
``weight``), shuffled together. Each round labels afresh from all unlabelled rows, so a row
may gain, change or lose its label; after the last round its labels stay until the end.

Example:
    >>> pseudo = PseudoLabel(torch.zeros(5, 3), warmup_epochs=10, every_epochs=5, rounds=3,
    ...                      threshold=0.9, weight=0.5)
    >>> [pseudo.round_start(r) for r in range(3)]
    [10, 15, 20]
"""

from __future__ import annotations

import torch

from trainwise.callbacks.base import Callback
from trainwise.errors import UserError
from trainwise.training.batches import InMemoryBatches


class PseudoLabel(Callback):
    """Replaces ``trainer.batches`` at round boundaries with labelled + pseudo-labelled rows.

    Adds ``pseudo_labelled`` (rows trained on with a pseudo-label this epoch) and
    ``pseudo_round`` (0 during the warm-up) to every epoch's record. Its state (round, and
    which unlabelled rows carry which label) is saved in the checkpoint, so a resume trains
    on exactly the rows the interrupted run was training on.

    Args:
        unlabelled: (M, F) features of the rows without a target, on the model's device.
        warmup_epochs: epochs on the labelled rows alone before the first round.
        every_epochs: epochs per round.
        rounds: how many times to label.
        threshold: the smallest top softmax probability for a row to keep its label.
        weight: the loss weight of a pseudo-labelled row (a labelled row has 1).
    """

    def __init__(self, unlabelled: torch.Tensor, warmup_epochs: int, every_epochs: int,
                 rounds: int, threshold: float, weight: float):
        self.unlabelled = unlabelled
        self.warmup_epochs = warmup_epochs
        self.every_epochs = every_epochs
        self.rounds = rounds
        self.threshold = threshold
        self.weight = weight
        self.labelled: InMemoryBatches | None = None  # the trainer's own, labelled-only batches
        self._forget()

    def _forget(self) -> None:
        self.round = 0  # rounds done
        self.indices: torch.Tensor | None = None  # (K,) int64 on CPU: rows of ``unlabelled``
        self.labels: torch.Tensor | None = None  # (K,) int64 on CPU: their pseudo-labels

    @property
    def count(self) -> int:
        """How many unlabelled rows carry a pseudo-label now."""
        return 0 if self.indices is None else len(self.indices)

    def round_start(self, round_index: int) -> int:
        """The completed-epoch count at which round ``round_index`` (0-based) labels."""
        return self.warmup_epochs + round_index * self.every_epochs

    # ----------------------------------------------------------------- hooks
    def on_train_begin(self, trainer) -> None:
        if self.labelled is None:
            self.labelled = trainer.batches
        if self.labelled.sampler is not None:
            raise UserError("train.pseudo_label cannot be combined with a row sampler (over- or "
                            "under-sampling): the sampler chooses among the labelled rows only. "
                            "Turn one of them off.")
        if trainer.state.epoch == 0:  # a fresh fit, not a resume: forget any earlier one
            self._forget()
        # A resume continues on the rows the saved run was training on.
        trainer.batches = self._batches()

    def on_epoch_begin(self, trainer) -> None:
        if self.round < self.rounds and trainer.state.epoch >= self.round_start(self.round):
            self._label(trainer)
            trainer.batches = self._batches()

    def on_epoch_end(self, trainer, record: dict) -> None:
        record["pseudo_labelled"] = self.count
        record["pseudo_round"] = self.round

    def state_dict(self) -> dict:
        return {"round": self.round, "indices": self.indices, "labels": self.labels}

    def load_state_dict(self, state: dict) -> None:
        self.round = state["round"]
        self.indices = state["indices"]
        self.labels = state["labels"]

    # ----------------------------------------------------------------- helpers
    def _label(self, trainer) -> None:
        """One eval-mode pass over the unlabelled rows; keep the confident ones."""
        probabilities = torch.softmax(trainer.predict(self.unlabelled).float(), dim=-1)
        confidence, labels = probabilities.max(dim=-1)
        # The round's one read from the device: how many rows were kept, and which.
        kept = (confidence >= self.threshold).nonzero().squeeze(1)
        self.indices = kept.cpu()
        self.labels = labels[kept].cpu()
        self.round += 1

    def _batches(self) -> InMemoryBatches:
        """The labelled rows, plus the pseudo-labelled ones when there are any."""
        base = self.labelled
        if self.count == 0:
            return base
        device = base.targets.device
        rows = self.indices.to(device)
        labelled_weights = (base.weights if base.weights is not None
                            else torch.ones(base.n_rows, device=device))
        # Same seed and batch size: the data order stays a function of (seed, epoch) alone.
        return InMemoryBatches(
            torch.cat([base.features, self.unlabelled[rows]]),
            torch.cat([base.targets, self.labels.to(device)]),
            base.batch_size, base.seed, base.shuffle,
            weights=torch.cat([labelled_weights,
                               torch.full((len(rows),), self.weight, device=device)]),
        )
