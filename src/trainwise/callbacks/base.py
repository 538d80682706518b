"""The callback contract: hooks that do nothing unless a callback overrides them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from trainwise.training.trainer import Trainer

HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_validation_begin",
         "on_validation_end", "on_epoch_end", "on_train_end")


class Callback:
    """Base class: override the hooks you need; every hook has a do-nothing default.

    A callback that needs to survive a resume returns its counters from ``state_dict`` and
    takes them back in ``load_state_dict``; ``on_train_begin`` resets them, so one instance can
    serve two fits. Callbacks stop training by setting ``trainer.state.stop_training = True``
    (the end-of-training hooks still run).

    Example:
        >>> class PrintEpochs(Callback):
        ...     def on_epoch_end(self, trainer, record):
        ...         print(record["epoch"], record["loss"])
    """

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once before the first epoch (also when a run resumes)."""

    def on_epoch_begin(self, trainer: Trainer) -> None:
        """Called before an epoch's first batch."""

    def on_batch_end(self, trainer: Trainer, loss: torch.Tensor) -> None:
        """Called after each optimizer step; ``loss`` is a device tensor: do not ``.item()`` it."""

    def on_validation_begin(self, trainer: Trainer) -> None:
        """Called at the end of an epoch, just before the validation rows' forward pass
        (only when there are validation rows)."""

    def on_validation_end(self, trainer: Trainer) -> None:
        """Called right after that forward pass, before the epoch's numbers are read: the
        place to ``trainer.log_value`` what the pass showed (see ``DeadUnitMonitor``)."""

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        """Called after validation with the epoch's history record (plain floats)."""

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once when training ends: finished, stopped early, or interrupted."""

    def state_dict(self) -> dict:
        """Counters to keep in the checkpoint (plain data and tensors only)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Take back what ``state_dict`` returned."""


class CallbackList:
    """Calls each hook only on the callbacks that override it: an unused hook costs nothing."""

    def __init__(self, callbacks: list[Callback]):
        self.callbacks = list(callbacks)
        self._listeners = {
            hook: [getattr(cb, hook) for cb in self.callbacks
                   if getattr(type(cb), hook) is not getattr(Callback, hook)]
            for hook in HOOKS
        }

    def has(self, hook: str) -> bool:
        return bool(self._listeners[hook])

    def call(self, hook: str, *args) -> None:
        for listener in self._listeners[hook]:
            listener(*args)

    def state_dict(self) -> dict:
        return {_key(position, cb): cb.state_dict() for position, cb in enumerate(self.callbacks)}

    def load_state_dict(self, saved: dict) -> None:
        """Each callback's saved state, matched by its class and its rank among callbacks of
        that class, not by position: a run resumed without its progress bar (``--quiet``),
        or a data-parallel rank that runs only the training callbacks, still gets its early
        stopping counters back."""
        by_kind = _by_kind(sorted(saved, key=lambda key: int(key.split(":", 1)[0])),
                           lambda key: key.split(":", 1)[1])
        mine = _by_kind(self.callbacks, lambda cb: type(cb).__name__)
        for kind, callbacks in mine.items():
            for callback, key in zip(callbacks, by_kind.get(kind, [])):
                callback.load_state_dict(saved[key])


def _key(position: int, callback: Callback) -> str:
    return f"{position}:{type(callback).__name__}"


def _by_kind(items, kind_of) -> dict[str, list]:
    """``items`` grouped by kind, each group in its original order."""
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(kind_of(item), []).append(item)
    return groups
