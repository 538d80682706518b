"""Forward and hand-derived backward of one MLP over a flat parameter vector, without autograd.

Per hidden block the forward is ``z = h W^T + b`` (one addmm), optional batch norm, the
activation and optional inverted dropout; the backward walks the blocks in reverse and writes
every gradient straight into its view of the flat gradient (``mm(..., out=)``), so the
optimizer sees one (P,) gradient and nothing needs zeroing.

Random numbers are drawn exactly as the autograd ``MLP`` draws them, from torch's global
generator and in the same order: the input noise (``randn_like``), then each block's dropout
mask (``empty_like(a).bernoulli_(1 - p)``, as ATen's CPU dropout does). A fused run therefore
reproduces the autograd run's noise and dropout masks, not just their distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trainwise.fused.activations import activate, activation_backward
from trainwise.fused.flat import FlatLayout
from trainwise.fused.structure import HiddenBlock, MLPStructure

_ATEN = torch.ops.aten


@dataclass
class _Block:
    """One hidden block's views into the flat parameters and gradient, and its norm buffers."""

    spec: HiddenBlock
    weight: torch.Tensor  # (out, in), a view of flat
    weight_t: torch.Tensor  # (in, out): the same memory, transposed once here, not per step
    bias: torch.Tensor  # (out,)
    grad_weight: torch.Tensor  # views of the flat gradient
    grad_bias: torch.Tensor
    norm: tuple[torch.Tensor, ...] | None  # gamma, beta, grad_gamma, grad_beta,
    #                                       running_mean, running_var, num_batches_tracked


class MLPKernel:
    """Runs one ``MLP`` from a flat parameter vector, its gradient into a flat gradient.

    Args:
        structure: the MLP's blocks (``read_structure``).
        layout: where each parameter lives in ``flat``.
        flat: (P,) parameters; read in place, so the optimizer's updates are seen at once.
        grad: (P,) gradient, overwritten by every ``backward``.
        buffers: the batch norm buffers by name (the module's own tensors, updated in place
            so the module's ``state_dict`` stays current); empty without batch norm.

    Example:
        >>> from trainwise.fused.flat import bind_to_flat
        >>> from trainwise.fused.structure import read_structure
        >>> from trainwise.models.mlp import MLP
        >>> model = MLP(3, 1, hidden=[4])
        >>> layout, flat, grad = bind_to_flat(model)
        >>> kernel = MLPKernel(read_structure(model), layout, flat, grad, {})
        >>> kernel.backward(kernel.forward(torch.randn(5, 3)))
        >>> bool(grad.abs().sum() > 0)
        True
    """

    def __init__(self, structure: MLPStructure, layout: FlatLayout, flat: torch.Tensor,
                 grad: torch.Tensor, buffers: dict[str, torch.Tensor]):
        self.structure = structure
        self.blocks = [_make_block(spec, layout, flat, grad, buffers) for spec in structure.hidden]
        out = structure.output
        self.out_weight = layout.view(flat, f"{out}.weight")  # (n_outputs, width)
        self.out_weight_t = self.out_weight.t()
        self.out_bias = layout.view(flat, f"{out}.bias")
        self.out_grad_weight = layout.view(grad, f"{out}.weight")
        self.out_grad_bias = layout.view(grad, f"{out}.bias")
        # Per block: (input, pre-activation z, normed y, activation a, dropout mask, norm saves).
        self._tape: list[tuple] = []
        self._last_hidden: torch.Tensor | None = None
        # Called as watcher(block position, activation name, activation output) by every
        # eval-mode forward while set (see ``watch``); None: no cost.
        self._watcher = None

    def watch(self, watcher) -> None:
        """Show every eval-mode forward's hidden activations to ``watcher(position, name, a)``
        (a: (B, width), after the activation, before dropout); None stops it.

        The module's forward hooks never fire here (the module is not called), so a callback
        that reads hidden units (``DeadUnitMonitor``) watches the kernel instead.
        """
        self._watcher = watcher

    def forward(self, x: torch.Tensor, training: bool = True) -> torch.Tensor:
        """The network's output for ``x`` (B, n_inputs) -> (B, n_outputs).

        In training mode it adds input noise, draws dropout masks, normalises with batch
        statistics (updating the running ones) and keeps what ``backward`` needs.
        """
        structure = self.structure
        if training and structure.input_noise > 0:
            x = x + torch.randn_like(x) * structure.input_noise
        self._tape = []
        h = x
        for position, block in enumerate(self.blocks):
            z = torch.addmm(block.bias, h, block.weight_t)  # (B, out)
            y, saved = _norm_forward(block, z, training, structure) if block.norm else (z, None)
            a = activate(block.spec.activation, y, structure.slope)
            mask = None
            if training and block.spec.dropout > 0:
                mask = dropout_mask(a, block.spec.dropout)
                h_next = a * mask
            else:
                h_next = a
            if training:
                self._tape.append((h, z, y, a, mask, saved))
            elif self._watcher is not None:
                self._watcher(position, block.spec.activation, a)
            h = h_next
        self._last_hidden = h
        return torch.addmm(self.out_bias, h, self.out_weight_t)  # (B, n_outputs)

    def backward(self, grad_output: torch.Tensor) -> None:
        """Write dLoss/dparameters into the flat gradient, given dLoss/doutput (B, n_outputs).

        Uses what the last training-mode ``forward`` kept.
        """
        torch.mm(grad_output.t(), self._last_hidden, out=self.out_grad_weight)
        torch.sum(grad_output, 0, out=self.out_grad_bias)
        grad_h = torch.mm(grad_output, self.out_weight)  # (B, width)
        for position in range(len(self.blocks) - 1, -1, -1):
            block = self.blocks[position]
            h, z, y, a, mask, saved = self._tape[position]
            if mask is not None:
                grad_h = grad_h * mask
            grad_y = activation_backward(block.spec.activation, grad_h, y, a, self.structure.slope)
            grad_z = (_norm_backward(block, grad_y, z, saved, self.structure) if block.norm
                      else grad_y)
            torch.mm(grad_z.t(), h, out=block.grad_weight)
            torch.sum(grad_z, 0, out=block.grad_bias)
            if position > 0:  # the inputs need no gradient
                grad_h = torch.mm(grad_z, block.weight)


def _make_block(spec: HiddenBlock, layout: FlatLayout, flat: torch.Tensor, grad: torch.Tensor,
                buffers: dict[str, torch.Tensor]) -> _Block:
    weight = layout.view(flat, f"{spec.linear}.weight")
    norm = None
    if spec.norm:
        name = spec.norm
        norm = (layout.view(flat, f"{name}.weight"), layout.view(flat, f"{name}.bias"),
                layout.view(grad, f"{name}.weight"), layout.view(grad, f"{name}.bias"),
                buffers[f"{name}.running_mean"], buffers[f"{name}.running_var"],
                buffers[f"{name}.num_batches_tracked"])
    return _Block(spec, weight, weight.t(), layout.view(flat, f"{spec.linear}.bias"),
                  layout.view(grad, f"{spec.linear}.weight"),
                  layout.view(grad, f"{spec.linear}.bias"), norm)


def dropout_mask(a: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout's scaled keep-mask, drawn as ATen's CPU ``dropout`` draws it."""
    return torch.empty_like(a).bernoulli_(1 - p).div_(1 - p)


def _norm_forward(block: _Block, z: torch.Tensor, training: bool,
                  structure: MLPStructure) -> tuple[torch.Tensor, tuple | None]:
    """BatchNorm1d with the kernel autograd uses: batch statistics (and a running-statistics
    update) in training, running statistics in eval mode."""
    gamma, beta, _, _, running_mean, running_var, batches = block.norm
    if training and z.shape[0] < 2:
        # The same refusal as torch's BatchNorm: one row has no variance.
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {tuple(z.shape)}")
    y, save_mean, save_invstd = torch.native_batch_norm(
        z, gamma, beta, running_mean, running_var, training, structure.norm_momentum,
        structure.norm_eps)
    if training:
        batches.add_(1)
    return y, (save_mean, save_invstd)


def _norm_backward(block: _Block, grad_y: torch.Tensor, z: torch.Tensor, saved: tuple,
                   structure: MLPStructure) -> torch.Tensor:
    """dL/dz of the training-mode batch norm; writes dL/dgamma and dL/dbeta into the gradient."""
    gamma, _, grad_gamma, grad_beta, running_mean, running_var, _ = block.norm
    grad_z, d_gamma, d_beta = _ATEN.native_batch_norm_backward.default(
        grad_y, z, gamma, running_mean, running_var, saved[0], saved[1], True,
        structure.norm_eps, [True, True, True])
    grad_gamma.copy_(d_gamma)
    grad_beta.copy_(d_beta)
    return grad_z
