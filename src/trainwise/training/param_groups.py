"""Per-group learning rates: parameters chosen by name train at their own rate.

Typical use is transfer learning: the loaded early layers at a small rate, the new output
layer at ``train.lr``. ``build_optimizer`` splits each group again into weight matrices (with
weight decay) and vectors (without).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from trainwise.errors import UserError
from trainwise.models.param_patterns import select_parameters

if TYPE_CHECKING:
    from trainwise.config.schema import TrainConfig


def lr_groups(model: nn.Module, train_cfg: TrainConfig) -> list[tuple[float, list[nn.Parameter]]]:
    """The model's parameters grouped by learning rate.

    Args:
        model: the network.
        train_cfg: ``train``; its ``param_groups`` entries are matched in order, and a
            parameter belongs to the first entry that matches it.

    Returns:
        ``[(lr, parameters), ...]``: first every parameter no entry matches, at ``train.lr``
        (first, so the history's ``lr`` column stays the base rate), then one pair per entry.
        The first pair's list may be empty.

    Raises:
        UserError: an entry's pattern matches nothing, or every parameter it matches is
            already taken by an earlier entry.
    """
    parameters = dict(model.named_parameters())
    names = list(parameters)
    taken: set[str] = set()
    groups = []
    for index, group in enumerate(train_cfg.param_groups):
        key = f"train.param_groups[{index}].params"
        selected = [name for name in select_parameters(names, group.params, key)
                    if name not in taken]
        if not selected:
            raise UserError(f"{key}: every parameter {group.params} matches is already in an "
                            "earlier group (the first matching group wins), so this group "
                            "would be empty; move it before the broader group or remove it.")
        taken.update(selected)
        groups.append((group.lr, [parameters[name] for name in selected]))
    rest = [parameters[name] for name in names if name not in taken]
    return [(train_cfg.lr, rest), *groups]
