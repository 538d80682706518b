"""Freeze parameters by name, and unfreeze them gradually at chosen epochs.

A frozen parameter has ``requires_grad = False``: backward leaves its ``.grad`` as None, and
every optimizer (fused Adam included) skips parameters without a gradient, so frozen weights
stay bit-identical, weight decay and momentum included. The optimizer is built over all
parameters, frozen or not, so an unfrozen one simply starts receiving updates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from trainwise.callbacks.base import Callback
from trainwise.errors import UserError
from trainwise.models.param_patterns import matching_names, select_parameters

if TYPE_CHECKING:
    from trainwise.config.schema import ModelConfig


class FreezeSchedule(Callback):
    """Sets which parameters train at the start of every epoch.

    Which parameters are frozen depends on the epoch alone, so the schedule keeps no state:
    a resumed run (even one resumed in the middle of an epoch) gets the same set from
    ``state.epoch`` in ``on_train_begin``.

    Args:
        model: the network whose parameters are named by the patterns.
        freeze: patterns of parameters that do not train from the first epoch.
        unfreeze: ``{epoch: patterns}``: from that (1-based) epoch on, the frozen parameters
            these patterns match train again.

    Raises:
        UserError: a pattern matches no parameter, an unfreeze pattern matches no frozen one,
            or the freeze leaves nothing to train.

    Example:
        >>> from trainwise.models import MLP
        >>> model = MLP(3, 1, [4])
        >>> schedule = FreezeSchedule(model, ["layers.0.*"], {3: ["*"]})
        >>> sorted(schedule.frozen_in(2)), sorted(schedule.frozen_in(3))
        (['layers.0.bias', 'layers.0.weight'], [])
    """

    def __init__(self, model: nn.Module, freeze: list[str], unfreeze: dict[int, list[str]]):
        self.model = model
        names = [name for name, _ in model.named_parameters()]
        self.frozen = select_parameters(names, freeze, "model.freeze")
        if len(self.frozen) == len(names):
            raise UserError(f"model.freeze {freeze} matches every parameter, so nothing would "
                            "train in the first epoch; leave at least one layer (e.g. the "
                            "output layer) out of model.freeze.")
        self.unfrozen_from = {epoch: self._unfrozen_by(names, epoch, patterns)
                              for epoch, patterns in sorted(unfreeze.items())}

    @classmethod
    def from_config(cls, model: nn.Module, model_cfg: ModelConfig) -> FreezeSchedule | None:
        """The schedule ``model.freeze``/``unfreeze`` ask for; None when nothing is frozen."""
        if not model_cfg.freeze:
            return None
        return cls(model, model_cfg.freeze, model_cfg.unfreeze)

    def frozen_in(self, epoch: int) -> set[str]:
        """Names of the parameters that do not train in ``epoch`` (1-based)."""
        thawed = {name for start, names in self.unfrozen_from.items() if start <= epoch
                  for name in names}
        return set(self.frozen) - thawed

    def apply(self, epoch: int) -> None:
        """Set ``requires_grad`` on every parameter for ``epoch`` (1-based)."""
        frozen = self.frozen_in(epoch)
        for name, parameter in self.model.named_parameters():
            parameter.requires_grad_(name not in frozen)

    def on_train_begin(self, trainer) -> None:
        # state.epoch counts finished epochs: the one about to run (or to finish) is the next.
        self.apply(trainer.state.epoch + 1)

    def on_epoch_begin(self, trainer) -> None:
        self.apply(trainer.state.epoch + 1)

    def _unfrozen_by(self, names: list[str], epoch: int, patterns: list[str]) -> list[str]:
        """The frozen parameters ``patterns`` unfreeze; each pattern must match one of them."""
        key = f"model.unfreeze[{epoch}]"
        select_parameters(names, patterns, key)  # a pattern matching nothing at all
        unfrozen = []
        for pattern in patterns:
            found = [name for name in matching_names(names, pattern) if name in self.frozen]
            if not found:
                raise UserError(f"{key}: pattern '{pattern}' matches no frozen parameter "
                                f"(model.freeze freezes: {', '.join(self.frozen)}), so it "
                                "would change nothing; add those parameters to model.freeze "
                                "or fix the pattern.")
            unfrozen += found
        return unfrozen
