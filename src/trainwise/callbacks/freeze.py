"""Freeze parameters by name, and unfreeze them gradually at chosen epochs.

A frozen parameter has ``requires_grad = False``: backward leaves its ``.grad`` as None, and
every optimizer (fused Adam included) skips parameters without a gradient, so frozen weights
stay bit-identical, weight decay and momentum included. The optimizer is built over all
parameters, frozen or not, so an unfrozen one simply starts receiving updates.

A frozen batch norm layer is also held in eval mode while training (as Keras does for
``trainable = False``): it normalises with its running statistics and no longer updates
them, so a frozen encoder is really unchanged, buffers included, and a model fine-tuned with
a frozen backbone sees the statistics it was trained with. A hook on the model's forward sets
those layers' mode on every training call (``model.train()`` anywhere in between cannot undo
it); unfrozen, they follow the model's mode again. The mode depends on the epoch alone, like
the frozen set, so a resumed run gets the same modes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

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
        # Batch norm layers with parameters, by their parameters' names.
        self.norms = {module: [f"{prefix}.{name}" if prefix else name
                               for name, _ in module.named_parameters()]
                      for prefix, module in model.named_modules()
                      if isinstance(module, _BatchNorm) and any(True for _ in module.parameters())}
        self.held: list[nn.Module] = []  # frozen batch norms, in eval mode while training
        self._hook = None

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
        """Set ``requires_grad`` on every parameter for ``epoch`` (1-based), and which batch
        norm layers are held in eval mode (those whose parameters are all frozen)."""
        frozen = self.frozen_in(epoch)
        for name, parameter in self.model.named_parameters():
            parameter.requires_grad_(name not in frozen)
        self.held = [module for module, names in self.norms.items()
                     if all(name in frozen for name in names)]
        self._set_norm_modes(self.model)

    def on_train_begin(self, trainer) -> None:
        # Registered here, not in __init__: a schedule built only to check the patterns
        # (``starting_point.check_parameter_patterns``) leaves no hook behind.
        if self._hook is None and self.held_ever:
            self._hook = self.model.register_forward_pre_hook(self._set_norm_modes)
        # state.epoch counts finished epochs: the one about to run (or to finish) is the next.
        self.apply(trainer.state.epoch + 1)

    def on_epoch_begin(self, trainer) -> None:
        self.apply(trainer.state.epoch + 1)

    def on_train_end(self, trainer) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self.held = []
        self._set_norm_modes(self.model)

    @property
    def held_ever(self) -> bool:
        """Whether any batch norm layer is frozen in some epoch (else there is nothing to hold)."""
        return any(all(name in self.frozen for name in names) for names in self.norms.values())

    def _set_norm_modes(self, model: nn.Module, *_) -> None:
        """Held norms in eval mode; the other norms in the model's own mode."""
        for module in self.norms:
            module.training = model.training and module not in self.held

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
