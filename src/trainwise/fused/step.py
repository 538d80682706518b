"""One training step without autograd: forward, loss, hand-derived backward, L1/L2 penalty
gradient, optional clipping, and one fused optimizer call on the flat parameters.

``FusedStep`` trains one ``MLP`` in place (its parameters become views of the flat vector);
``BatchedFusedStep`` trains K members of one architecture as one batched model, each with its
own learning rate and weight decay, any of them frozen. Neither reads a value back to the host.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from trainwise.config.schema import Config
from trainwise.fused.batched import BatchedMLPKernel, member_dropouts, stack_members
from trainwise.fused.flat import bind_to_flat
from trainwise.fused.flat_optim import FlatOptimizerStep, build_flat_optimizer
from trainwise.fused.losses import FusedLoss
from trainwise.fused.member_optim import MemberOptimizer
from trainwise.fused.mlp_kernel import MLPKernel
from trainwise.fused.structure import read_structure
from trainwise.models.mlp import MLP
from trainwise.training.losses.base import RowLoss


def optimizer_options(cfg: Config) -> dict:
    """The keyword arguments both steps take, from the config (as ``build_optimizer`` reads it).

    ``model.l2`` is a loss penalty or weight decay by ``model.l2_as``; decay applies to weight
    matrices only, as in ``build_optimizer``.

    Raises:
        ValueError: ``train.lr`` is still 'auto' (run the LR range test first).
    """
    train, model = cfg.train, cfg.model
    if train.lr == "auto":
        raise ValueError("train.lr is 'auto': resolve it (LR range test) before building the step")
    as_decay = model.l2_as == "weight_decay"
    return {"optimizer": train.optimizer, "lr": train.lr,
            "weight_decay": train.weight_decay + (model.l2 if as_decay else 0.0),
            "betas": tuple(train.betas), "eps": train.eps, "momentum": train.momentum,
            "nesterov": train.nesterov, "l1": model.l1, "l2": 0.0 if as_decay else model.l2,
            "grad_clip": train.grad_clip}


class FusedStep:
    """Trains one ``MLP`` without autograd; call it once per batch.

    The model's parameters (and their ``.grad``) become views of one flat vector, so the model
    itself always holds the current weights: evaluate it, save its ``state_dict``, load a
    checkpoint into it, as with autograd training. ``optimizer`` is a real fused torch
    optimizer (groups: weight matrices with decay, then vectors without), for schedulers and
    checkpoints.

    Args:
        model: the network, already on its device and initialised.
        loss_fn: a ``RowLoss`` with a fused gradient (see ``fused.losses.unsupported_loss``).
        optimizer: adam, adamw or sgd.
        lr, weight_decay, betas, eps, momentum, nesterov: the optimizer's settings.
        l1, l2: Keras-style penalties on weight matrices, added to the objective's gradient
            (not to the returned loss, as in ``Trainer``).
        grad_clip: clip the global gradient norm to this (None: no clipping).

    Example:
        >>> from trainwise.training.losses import MSELoss
        >>> step = FusedStep(MLP(3, 1, hidden=[8]), MSELoss(), lr=0.01)
        >>> loss, prediction = step(torch.randn(16, 3), torch.randn(16))
        >>> loss.shape, prediction.shape
        (torch.Size([]), torch.Size([16, 1]))
    """

    def __init__(self, model: MLP, loss_fn: RowLoss, optimizer: str = "adam", lr: float = 1e-3,
                 weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, momentum: float = 0.0, nesterov: bool = False,
                 l1: float = 0.0, l2: float = 0.0, grad_clip: float | None = None):
        self.model = model
        self.layout, self.flat, self.grad = bind_to_flat(model)
        self.kernel = MLPKernel(read_structure(model), self.layout, self.flat, self.grad,
                                dict(model.named_buffers()))
        self.loss = FusedLoss.from_row_loss(loss_fn)
        split = self.layout.n_matrix
        matrices, vectors = self.flat[:split], self.flat[split:]
        matrices.grad, vectors.grad = self.grad[:split], self.grad[split:]
        self.optimizer = build_flat_optimizer(
            optimizer, [{"params": [matrices], "lr": lr, "weight_decay": weight_decay},
                        {"params": [vectors], "lr": lr, "weight_decay": 0.0}],
            betas=betas, eps=eps, momentum=momentum, nesterov=nesterov)
        self._stepper = FlatOptimizerStep(self.optimizer)
        self.l1, self.l2, self.grad_clip = l1, l2, grad_clip
        self.grad_norm: torch.Tensor | None = None  # () norm before clipping, when measured

    @classmethod
    def from_config(cls, model: MLP, cfg: Config, loss_fn: RowLoss) -> FusedStep:
        """The step ``cfg`` asks for (check ``fused_eligibility`` first)."""
        return cls(model, loss_fn, **optimizer_options(cfg))

    def __call__(self, features: torch.Tensor, targets: torch.Tensor,
                 weights: torch.Tensor | None = None,
                 measure_grad_norm: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a batch.

        Args:
            features: (B, F) inputs.
            targets: (B,) targets (class indices for cross_entropy).
            weights: (B,) row weights, or None.
            measure_grad_norm: keep the gradient norm before clipping in ``grad_norm``
                (always kept when clipping).

        Returns:
            The batch loss () without penalties and the training-mode prediction (B, outputs),
            both device tensors.
        """
        prediction = self.kernel.forward(features, training=True)
        loss, grad_prediction = self.loss(prediction, targets, weights)
        self.kernel.backward(grad_prediction)
        norm = finish_gradient(self.flat, self.grad, self.layout.n_matrix, self.l1, self.l2,
                               self.grad_clip, measure_grad_norm)
        if norm is not None:
            self.grad_norm = norm.squeeze(-1)
        self._stepper.step()
        return loss, prediction

    @torch.inference_mode()
    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """The model's eval-mode output (N, F) -> (N, outputs), from the flat parameters.

        Equal to ``model.eval()(features)`` (the same kernels on the same weights), without
        the module calls and train/eval switches: a validation pass of a small model costs
        a few kernels, not ~150 µs of module bookkeeping.
        """
        return self.kernel.forward(features, training=False)


class BatchedFusedStep:
    """Trains K ``MLP`` members of one architecture as one batched model.

    Member k starts from ``models[k]``'s weights and trains with ``lr[k]``,
    ``weight_decay[k]`` (on its weight matrices) and its own model's dropout rate. ``optimizer`` is a ``MemberOptimizer``: one
    parameter group per member, so one torch scheduler over it moves every member's rate.
    ``set_active`` freezes members: a frozen member's weights, batch norm statistics and
    optimizer state stay as they are (its loss is still computed).

    Args:
        models: the K members (same architecture; their own seeds and initialisations).
        loss_fn, optimizer, betas, eps, momentum, nesterov, l1, l2, grad_clip: as
            ``FusedStep`` (clipping is per member).
        lr, weight_decay: one value for all members or one per member.

    Example:
        >>> from trainwise.training.losses import MSELoss
        >>> step = BatchedFusedStep([MLP(3, 1, hidden=[8]) for _ in range(4)], MSELoss(),
        ...                         lr=[0.1, 0.01, 0.001, 0.0001])
        >>> losses, predictions = step(torch.randn(16, 3), torch.randn(16))
        >>> losses.shape, predictions.shape
        (torch.Size([4]), torch.Size([4, 16, 1]))
    """

    def __init__(self, models: Sequence[MLP], loss_fn: RowLoss, optimizer: str = "adam",
                 lr: float | Sequence[float] = 1e-3,
                 weight_decay: float | Sequence[float] = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 momentum: float = 0.0, nesterov: bool = False, l1: float = 0.0,
                 l2: float = 0.0, grad_clip: float | None = None):
        self.template = models[0]
        self.members = len(models)
        self.layout, self.flat, self.buffers = stack_members(models)
        self.grad = torch.zeros_like(self.flat)
        self.kernel = BatchedMLPKernel(read_structure(models[0]), self.layout, self.flat,
                                       self.grad, self.buffers, member_dropouts(models))
        # Each member's own state_dict keys (they differ from the first's when its dropout does).
        self._member_keys = [list(model.state_dict()) for model in models]
        self.loss = FusedLoss.from_row_loss(loss_fn)
        self.optimizer = MemberOptimizer(
            self.flat, self.grad, self.layout.n_matrix, optimizer,
            _per_member(lr, self.members, "lr"),
            _per_member(weight_decay, self.members, "weight_decay"),
            betas=betas, eps=eps, momentum=momentum, nesterov=nesterov)
        self.l1, self.l2, self.grad_clip = l1, l2, grad_clip
        self.grad_norm: torch.Tensor | None = None  # (K,) norms before clipping, when measured
        self.set_active([True] * self.members)

    @classmethod
    def from_config(cls, models: Sequence[MLP], cfg: Config, loss_fn: RowLoss,
                    lr: Sequence[float] | None = None,
                    weight_decay: Sequence[float] | None = None) -> BatchedFusedStep:
        """The step ``cfg`` asks for, with per-member ``lr``/``weight_decay`` where given."""
        options = optimizer_options(cfg)
        if lr is not None:
            options["lr"] = lr
        if weight_decay is not None:
            options["weight_decay"] = weight_decay
        return cls(models, loss_fn, **options)

    def set_active(self, active: Sequence[bool]) -> None:
        """Which members train from now on (False: frozen, e.g. early-stopped).

        Freezing is cheap to undo but not free: once members have taken different numbers of
        steps, every later step hands the rows to the kernel one by one (see
        ``MemberOptimizer``).
        """
        self.active = [bool(flag) for flag in active]
        # A host-side list, so choosing what to update costs no device read; the (K, 1) mask
        # only guards batch norm's running statistics.
        self._active_mask = None if all(self.active) else torch.tensor(
            self.active, device=self.flat.device).unsqueeze(1)

    def __call__(self, features: torch.Tensor, targets: torch.Tensor,
                 weights: torch.Tensor | None = None,
                 measure_grad_norm: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step for every active member.

        Args:
            features: (B, F) shared or (K, B, F) per-member inputs.
            targets, weights: (B,) shared or (K, B) per member; weights may be None.
            measure_grad_norm: keep each member's gradient norm in ``grad_norm``.

        Returns:
            Per-member losses (K,) and predictions (K, B, outputs), device tensors.
        """
        prediction = self.kernel.forward(features, training=True, active=self._active_mask)
        losses, grad_prediction = self.loss(prediction, targets, weights)
        self.kernel.backward(grad_prediction)
        norm = finish_gradient(self.flat, self.grad, self.layout.n_matrix, self.l1, self.l2,
                               self.grad_clip, measure_grad_norm)
        if norm is not None:
            self.grad_norm = norm.squeeze(-1)
        self.optimizer.update(self.active)
        return losses, prediction

    @torch.inference_mode()
    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Every member's eval-mode output: (N, F) or (K, N, F) -> (K, N, outputs)."""
        return self.kernel.forward(features, training=False)

    def member_state_dict(self, member: int) -> dict[str, torch.Tensor]:
        """Member ``member`` as an ``MLP`` ``state_dict`` (same keys and order), as copies."""
        tensors = self.layout.unflatten(self.flat[member])
        tensors.update({name: buffer[member].clone() for name, buffer in self.buffers.items()})
        # The first member's names in state_dict order; the same tensors, in the same order,
        # carry this member's names.
        ordered = [tensors[name] for name in self.template.state_dict()]
        return dict(zip(self._member_keys[member], ordered))


def finish_gradient(flat: torch.Tensor, grad: torch.Tensor, split: int, l1: float, l2: float,
                    max_norm: float | None, measure: bool) -> torch.Tensor | None:
    """Add the L1/L2 penalties' gradient on the weight matrices, then clip by global norm.

    Works on (P,) and on (K, P) (one norm per member). The penalties are ``l1 * sum|W|`` and
    ``l2 * sum W²`` (``training/penalty.py``); clipping is ``clip_grad_norm_``'s rule.

    Returns:
        The norm before clipping, (1,) or (K, 1), when clipping or ``measure``; else None.
    """
    if l1 or l2:
        grad_matrices, matrices = grad[..., :split], flat[..., :split]
        if l2:
            grad_matrices.add_(matrices, alpha=2 * l2)
        if l1:
            grad_matrices.add_(matrices.sign(), alpha=l1)
    if not (max_norm or measure):
        return None
    norm = torch.linalg.vector_norm(grad, dim=-1, keepdim=True)
    if max_norm:
        grad.mul_((max_norm / (norm + 1e-6)).clamp_(max=1.0))
    return norm


def _per_member(value: float | Sequence[float], members: int, name: str) -> list[float]:
    if isinstance(value, (int, float)):
        return [float(value)] * members
    if len(value) != members:
        raise ValueError(f"{name}: {len(value)} values for {members} members; give one each")
    return [float(item) for item in value]
