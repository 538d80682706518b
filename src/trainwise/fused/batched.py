"""K MLPs of one architecture trained as one batched model: forward and hand-derived backward.

Member k's parameters are row k of a (K, P) tensor in the single-model flat layout, so a row
converts to and from an ``MLP``'s ``state_dict`` exactly as one model's vector does. Each
Linear runs as one batched matmul over the members (``baddbmm``/``bmm``); inputs are (K, B, F),
or (B, F) shared by every member. Batch norm is written out (per member, per unit) so each
member normalises with its own batch statistics; a frozen member's running statistics stay.

Random numbers (input noise, dropout masks) are drawn for all K members at once: each member's
masks follow the same distribution as a single run's, but not the same draws. Members may
differ in their dropout rate (a sweep over ``model.dropout``): a model with dropout has extra
``Dropout`` modules, so its parameter names differ from one without, but its parameters come
in the same order with the same shapes, which is all the (K, P) rows need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from trainwise.fused.activations import activate, activation_backward
from trainwise.fused.flat import FlatLayout
from trainwise.fused.mlp_kernel import dropout_mask
from trainwise.fused.structure import HiddenBlock, MLPStructure, read_structure
from trainwise.models.mlp import MLP


@dataclass
class _Block:
    spec: HiddenBlock
    weight: torch.Tensor  # (K, out, in), a view of the (K, P) parameters
    weight_t: torch.Tensor  # (K, in, out), the same memory
    bias: torch.Tensor  # (K, 1, out): broadcast over the batch rows
    norm: tuple[torch.Tensor, ...] | None  # gamma (K, 1, H), beta (K, 1, H), running_mean
    #                                       (K, H), running_var (K, H), num_batches_tracked (K,)
    # The dropout rate: one float for every member, or (K, 1, 1) when members differ.
    dropout: float | torch.Tensor


class BatchedMLPKernel:
    """Runs K members of one ``MLP`` architecture from a (K, P) parameter tensor.

    Args:
        structure: the shared architecture (``read_structure``).
        layout: the single-model flat layout; row k of ``flat`` is member k.
        flat: (K, P) parameters, read in place.
        grad: (K, P) gradient, overwritten by every ``backward``.
        buffers: batch norm buffers by the MLP's names, stacked: (K, H) and (K,).

    Example:
        >>> models = [MLP(3, 1, hidden=[4]) for _ in range(2)]
        >>> layout, flat, buffers = stack_members(models)
        >>> kernel = BatchedMLPKernel(read_structure(models[0]), layout, flat,
        ...                           torch.zeros_like(flat), buffers)
        >>> kernel.forward(torch.randn(5, 3)).shape
        torch.Size([2, 5, 1])
    """

    def __init__(self, structure: MLPStructure, layout: FlatLayout, flat: torch.Tensor,
                 grad: torch.Tensor, buffers: dict[str, torch.Tensor],
                 dropouts: Sequence[Sequence[float]] | None = None):
        self.structure = structure
        self.layout = layout
        self.members = flat.shape[0]
        self.grad = grad
        rates = _block_rates(structure, dropouts, flat)
        self.blocks = [_make_block(spec, layout, flat, buffers, rate)
                       for spec, rate in zip(structure.hidden, rates)]
        out = structure.output
        self.out_weight = layout.view(flat, f"{out}.weight")  # (K, n_outputs, width)
        self.out_weight_t = self.out_weight.transpose(1, 2)
        self.out_bias = layout.view(flat, f"{out}.bias").unsqueeze(1)
        self._tape: list[tuple] = []
        self._last_hidden: torch.Tensor | None = None
        self._watcher = None  # see ``watch``

    def watch(self, watcher) -> None:
        """Show every eval-mode forward's hidden activations to ``watcher(position, name, a)``
        (a: (K, B, width), after the activation); None stops it. As ``MLPKernel.watch``."""
        self._watcher = watcher

    def forward(self, x: torch.Tensor, training: bool = True,
                active: torch.Tensor | None = None) -> torch.Tensor:
        """Every member's output: x (K, B, F) or shared (B, F) -> (K, B, n_outputs).

        Args:
            x: the inputs.
            training: noise, dropout and batch statistics (and keep what ``backward`` needs).
            active: (K, 1) bool, members whose batch norm running statistics may update
                (None: all); a frozen member's stay as they are.
        """
        structure = self.structure
        if x.dim() == 2:
            x = x.expand(self.members, *x.shape)  # a view: one copy of the rows for all K
        if training and structure.input_noise > 0:
            x = x + torch.randn_like(x) * structure.input_noise  # each member its own noise
        self._tape = []
        h = x
        for position, block in enumerate(self.blocks):
            z = torch.baddbmm(block.bias, h, block.weight_t)  # (K, B, out)
            y, saved = _norm_forward(block, z, training, active, structure) if block.norm \
                else (z, None)
            a = activate(block.spec.activation, y, structure.slope)
            mask = _member_dropout_mask(a, block.dropout) if training and _drops(block) else None
            if training:
                self._tape.append((h, y, a, mask, saved))
            elif self._watcher is not None:
                self._watcher(position, block.spec.activation, a)
            h = a * mask if mask is not None else a
        self._last_hidden = h
        return torch.baddbmm(self.out_bias, h, self.out_weight_t)  # (K, B, n_outputs)

    def backward(self, grad_output: torch.Tensor) -> None:
        """Write every member's gradient into the (K, P) gradient, given (K, B, n_outputs).

        The pieces are computed into fresh tensors and written with one ``cat`` in layout
        order: batched matmuls into strided views of the flat gradient are slower on CPU.
        """
        members, out = self.members, self.structure.output
        pieces = {f"{out}.weight": torch.bmm(grad_output.transpose(1, 2), self._last_hidden),
                  f"{out}.bias": grad_output.sum(1)}
        grad_h = torch.bmm(grad_output, self.out_weight)  # (K, B, width)
        for position in range(len(self.blocks) - 1, -1, -1):
            block = self.blocks[position]
            h, y, a, mask, saved = self._tape[position]
            if mask is not None:
                grad_h = grad_h * mask
            grad_z = activation_backward(block.spec.activation, grad_h, y, a, self.structure.slope)
            if block.norm:
                grad_z, pieces[f"{block.spec.norm}.weight"], pieces[f"{block.spec.norm}.bias"] = \
                    _norm_backward(block, grad_z, saved)
            pieces[f"{block.spec.linear}.weight"] = torch.bmm(grad_z.transpose(1, 2), h)
            pieces[f"{block.spec.linear}.bias"] = grad_z.sum(1)
            if position > 0:
                grad_h = torch.bmm(grad_z, block.weight)
        torch.cat([pieces[name].reshape(members, -1) for name in self.layout.names], 1,
                  out=self.grad)


def stack_members(models: Sequence[MLP]) -> tuple[FlatLayout, torch.Tensor, dict]:
    """K models of one architecture as (K, P) parameters and stacked batch norm buffers.

    Each member starts from its own model's weights (its own seed and initialisation). The
    layout and buffer names are the first model's; the others' tensors are taken in order
    (their names differ when their dropout does).

    Raises:
        ValueError: the models differ in architecture (beyond their dropout rates).
    """
    shape = _shape_without_dropout(models[0])
    for model in models[1:]:
        if _shape_without_dropout(model) != shape:
            raise ValueError("batched members must share one architecture (layers, sizes, "
                             "activation, batch norm); only their dropout may differ")
    layout = FlatLayout.of(models[0])
    flat = torch.stack([FlatLayout.of(model).flatten(dict(model.named_parameters()))
                        for model in models])
    names = [name for name, _ in models[0].named_buffers()]
    member_buffers = [[buffer for _, buffer in model.named_buffers()] for model in models]
    buffers = {name: torch.stack([own[position] for own in member_buffers]).clone()
               for position, name in enumerate(names)}
    return layout, flat, buffers


def member_dropouts(models: Sequence[MLP]) -> list[list[float]]:
    """Each member's dropout rate per hidden block: (K, blocks)."""
    return [[block.dropout for block in read_structure(model).hidden] for model in models]


def _shape_without_dropout(model: MLP) -> tuple:
    """What members must share: per block the activation and batch norm, the parameter shapes
    in flat order, and the model-wide settings."""
    structure = read_structure(model)
    blocks = tuple((block.activation, block.norm is not None) for block in structure.hidden)
    shapes = tuple(entry.shape for entry in FlatLayout.of(model).entries)
    return (blocks, shapes, structure.n_inputs, structure.n_outputs, structure.slope,
            structure.input_noise, structure.norm_eps, structure.norm_momentum)


def _block_rates(structure: MLPStructure, dropouts: Sequence[Sequence[float]] | None,
                 flat: torch.Tensor) -> list[float | torch.Tensor]:
    """Per block: the members' shared dropout rate, or a (K, 1, 1) tensor when they differ."""
    if dropouts is None:
        return [block.dropout for block in structure.hidden]
    rates = []
    for position in range(len(structure.hidden)):
        column = [member[position] for member in dropouts]
        rates.append(column[0] if len(set(column)) == 1 else
                     torch.tensor(column, dtype=flat.dtype, device=flat.device).view(-1, 1, 1))
    return rates


def _drops(block: _Block) -> bool:
    return isinstance(block.dropout, torch.Tensor) or block.dropout > 0


def _member_dropout_mask(a: torch.Tensor, rate: float | torch.Tensor) -> torch.Tensor:
    """The scaled keep-mask: one rate for all members, or each member's own (K, 1, 1).

    With a member's rate 0 its mask is exactly 1 (a uniform draw is never below 0), so it
    trains as it would without dropout.
    """
    if not isinstance(rate, torch.Tensor):
        return dropout_mask(a, rate)
    return torch.rand_like(a).ge_(rate).div_(1 - rate)


def _make_block(spec: HiddenBlock, layout: FlatLayout, flat: torch.Tensor,
                buffers: dict[str, torch.Tensor], dropout: float | torch.Tensor) -> _Block:
    weight = layout.view(flat, f"{spec.linear}.weight")
    norm = None
    if spec.norm:
        name = spec.norm
        norm = (layout.view(flat, f"{name}.weight").unsqueeze(1),
                layout.view(flat, f"{name}.bias").unsqueeze(1),
                buffers[f"{name}.running_mean"], buffers[f"{name}.running_var"],
                buffers[f"{name}.num_batches_tracked"])
    return _Block(spec, weight, weight.transpose(1, 2),
                  layout.view(flat, f"{spec.linear}.bias").unsqueeze(1), norm, dropout)


def _norm_forward(block: _Block, z: torch.Tensor, training: bool, active: torch.Tensor | None,
                  structure: MLPStructure) -> tuple[torch.Tensor, tuple | None]:
    """Per-member BatchNorm1d over the batch rows of z (K, B, H)."""
    gamma, beta, running_mean, running_var, batches = block.norm
    eps = structure.norm_eps
    if not training:
        scale = (running_var + eps).rsqrt().unsqueeze(1) * gamma  # (K, 1, H)
        return torch.addcmul(beta, z - running_mean.unsqueeze(1), scale), None
    rows = z.shape[1]
    if rows < 2:
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {tuple(z.shape[1:])}")
    mean = z.mean(1, keepdim=True)  # (K, 1, H)
    centred = z - mean
    variance = centred.square().mean(1, keepdim=True)  # biased, as the normalisation uses
    inverse_std = (variance + eps).rsqrt()
    normed = centred * inverse_std
    # Running statistics take the unbiased variance, as torch's BatchNorm does.
    _update_running(running_mean, mean.squeeze(1), active, structure.norm_momentum)
    _update_running(running_var, variance.squeeze(1) * (rows / (rows - 1)), active,
                    structure.norm_momentum)
    batches.add_(1 if active is None else active.squeeze(1).to(batches.dtype))
    return torch.addcmul(beta, normed, gamma), (normed, inverse_std)


def _update_running(running: torch.Tensor, batch_value: torch.Tensor,
                    active: torch.Tensor | None, momentum: float) -> None:
    """running <- (1 - momentum) running + momentum batch_value, for active members only."""
    updated = torch.lerp(running, batch_value, momentum)
    running.copy_(updated if active is None else torch.where(active, updated, running))


def _norm_backward(block: _Block, grad_y: torch.Tensor, saved: tuple):
    """(dL/dz (K, B, H), dL/dgamma (K, H), dL/dbeta (K, H)) of the training-mode batch norm."""
    gamma = block.norm[0]
    normed, inverse_std = saved
    rows = grad_y.shape[1]
    grad_beta = grad_y.sum(1)  # (K, H)
    grad_gamma = (grad_y * normed).sum(1)
    # dz = gamma / std * (dy - mean(dy) - xhat * mean(dy * xhat)), per member and unit.
    inner = grad_y - (grad_beta / rows).unsqueeze(1) - normed * (grad_gamma / rows).unsqueeze(1)
    return inner * (gamma * inverse_std), grad_gamma, grad_beta
