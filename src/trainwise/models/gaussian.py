"""Probabilistic regression: networks that predict a Normal (mean, variance) per row.

Output convention, shared with ``training.losses.gaussian``: an (N, 2) tensor, column 0 the
mean and column 1 the variance (always > 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainwise.models.init import initialize_weights
from trainwise.models.mlp import MLP

# Smallest variance a head may predict. The NLL divides by the variance and takes its log, so
# a variance of exactly 0 would give inf/NaN; 1e-6 is also torch's gaussian_nll_loss ``eps``.
DEFAULT_MIN_VARIANCE = 1e-6

# The lab's initialisation (TimberID): Xavier/Glorot normal weights, zero biases.
DEFAULT_INIT = "xavier_normal"

# Columns of the (N, 2) prediction.
MEAN_COLUMN = 0
VARIANCE_COLUMN = 1
GAUSSIAN_OUTPUTS = 2


class GaussianHead(nn.Module):
    """A Linear layer to two outputs per row, mapped to (mean, variance).

    The variance is ``softplus(raw) + min_variance``: softplus keeps it positive and smooth
    (unlike ``exp``, it grows only linearly for large raw outputs, so one outlier batch cannot
    blow it up), and the floor keeps it away from 0 even where softplus underflows.

    Args:
        n_features: width of the body's output.
        min_variance: the variance floor; must be > 0.

    Raises:
        ValueError: ``min_variance`` is not positive.

    Example:
        >>> head = GaussianHead(8)
        >>> out = head(torch.zeros(3, 8))
        >>> out.shape, bool((out[:, 1] > 0).all())
        (torch.Size([3, 2]), True)
    """

    def __init__(self, n_features: int, min_variance: float = DEFAULT_MIN_VARIANCE):
        super().__init__()
        if not min_variance > 0:
            raise ValueError(f"min_variance must be positive, got {min_variance}")
        self.min_variance = float(min_variance)
        self.linear = nn.Linear(n_features, GAUSSIAN_OUTPUTS)

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # (N, F) -> (N, 2)
        return self.to_mean_variance(self.linear(features))

    def to_mean_variance(self, raw: torch.Tensor) -> torch.Tensor:
        """Map raw (N, 2) outputs to (mean, variance) columns.

        Args:
            raw: (N, 2) unconstrained outputs.

        Returns:
            (N, 2): column 0 ``raw[:, 0]``, column 1 ``softplus(raw[:, 1]) + min_variance``.
        """
        mean = raw[:, MEAN_COLUMN]  # (N,)
        variance = F.softplus(raw[:, VARIANCE_COLUMN]) + self.min_variance  # (N,)
        return torch.stack([mean, variance], dim=1)  # (N, 2)


def _mlp_body(n_inputs: int, hidden: list[int], **mlp_kwargs) -> tuple[nn.Module, int]:
    """An ``MLP`` without its output layer, and the width of what it returns.

    ``MLP`` always ends with a plain Linear; dropping it (``nn.Identity``) leaves the last
    hidden block's activation (and dropout) as the body's output, which is exactly what the
    head should see. Reusing ``MLP`` keeps parameter names (``body.layers.0.weight``...) and
    the noise/batch-norm/dropout options identical to the plain regression network.

    Args:
        n_inputs: features per row.
        hidden: hidden layer sizes; empty gives the identity body (linear Gaussian regression).
        **mlp_kwargs: the rest of ``MLP``'s keyword arguments.

    Returns:
        ``(body, width)``: the module and its output width.
    """
    # n_outputs=1 is a placeholder: that output layer is replaced just below.
    body = MLP(n_inputs, 1, hidden=list(hidden), **mlp_kwargs)
    body.layers[-1] = nn.Identity()
    width = hidden[-1] if len(hidden) else n_inputs
    return body, width


class GaussianMLP(nn.Module):
    """An MLP body and a ``GaussianHead``: (N, n_inputs) -> (N, 2) of (mean, variance).

    The TimberID isotope network is ``GaussianMLP(16, hidden=[20, 20])`` (relu, Xavier normal).

    Args:
        n_inputs: features per row.
        hidden: sizes of the hidden layers.
        activation: a name from ``config.schema.ACTIVATIONS``.
        leaky_relu_slope: slope for ``leaky_relu``.
        dropout: probability of zeroing each hidden unit while training.
        batch_norm: normalise each hidden layer's pre-activations.
        input_noise: std of Gaussian noise added to the inputs while training (0: none).
        min_variance: the head's variance floor (> 0).
        init: a scheme for ``models.init.initialize_weights`` ('default' keeps PyTorch's).

    Raises:
        ValueError: ``min_variance`` is not positive.

    Example:
        >>> GaussianMLP(16, hidden=[20, 20])(torch.zeros(4, 16)).shape
        torch.Size([4, 2])
    """

    def __init__(self, n_inputs: int, hidden: list[int] = (20, 20), activation: str = "relu",
                 leaky_relu_slope: float = 0.01, dropout: float = 0.0,
                 batch_norm: bool = False, input_noise: float = 0.0,
                 min_variance: float = DEFAULT_MIN_VARIANCE, init: str = DEFAULT_INIT):
        super().__init__()
        self.body, width = _mlp_body(
            n_inputs, hidden, activation=activation, leaky_relu_slope=leaky_relu_slope,
            dropout=dropout, batch_norm=batch_norm, input_noise=input_noise)
        self.head = GaussianHead(width, min_variance)
        initialize_weights(self, init, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, F) -> (N, 2)
        return self.head(self.body(x))
