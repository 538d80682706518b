"""Weight initialisation by name, applied to every Linear/Conv weight; biases start at zero."""

from __future__ import annotations

from torch import nn

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def initialize_weights(model: nn.Module, scheme: str, activation: str = "relu") -> None:
    """Re-initialise ``model``'s layers with ``scheme`` ('default' keeps PyTorch's own).

    Kaiming/He uses the activation's gain (leaky_relu and relu are what it was derived for).
    """
    if scheme == "default":
        return
    nonlinearity = activation if activation in ("relu", "leaky_relu") else "relu"
    for module in model.modules():
        if not isinstance(module, _WEIGHTED):
            continue
        weight = module.weight
        if scheme in ("xavier_uniform", "glorot_uniform"):
            nn.init.xavier_uniform_(weight)
        elif scheme in ("xavier_normal", "glorot_normal"):
            nn.init.xavier_normal_(weight)
        elif scheme in ("kaiming_uniform", "he_uniform"):
            nn.init.kaiming_uniform_(weight, nonlinearity=nonlinearity)
        elif scheme in ("kaiming_normal", "he_normal"):
            nn.init.kaiming_normal_(weight, nonlinearity=nonlinearity)
        elif scheme == "orthogonal":
            nn.init.orthogonal_(weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
