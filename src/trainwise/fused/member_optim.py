"""One optimizer for K batched members: Adam, AdamW or SGD with a learning rate and a weight
decay per member and any member frozen, in as few fused-kernel calls as the members allow.

The moments live in (K, P) blocks beside the (K, P) parameters, so while every member trains
(the usual case until early stopping freezes one) the whole block takes **one** call of torch's
fused kernel: on the CPU each tensor handed to that kernel costs ~2 µs of its own, so K row
tensors cost K times what one block does. The kernel takes one scalar ``lr`` (a (K,) tensor is
refused), so different rates run it at ``lr = 1`` and scale each member's update by its rate
(two elementwise ops); decay on weight matrices is applied outside the kernel, per member.
Once a member is frozen its row must stay untouched, so the rows still training go to the
kernel as separate tensors, one call per distinct rate.

Measured on the tutorial workload (K=8, 7-32-32-1, one thread, CPU time): the block in one
call ~9 µs, ~16 µs with eight different rates (scaled); the K rows as separate tensors ~41 µs
in one call, ~52 µs in eight; the same Adam as (K, 1)-broadcast tensor ops ~44 µs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from trainwise.fused.flat_optim import FAST_OPTIMIZERS


class MemberOptimizer(torch.optim.Optimizer):
    """Adam, AdamW or SGD over K members' rows of one (K, P) parameter tensor.

    A torch ``Optimizer`` with one parameter group per member (its whole row), so torch's
    schedulers move every member's ``lr`` and ``state_dict`` saves the usual per-parameter
    state (``step``, ``exp_avg``, ``exp_avg_sq`` or ``momentum_buffer``). Call ``update``
    (``step`` works too, through torch's slower hook machinery).

    Args:
        flat: (K, P) parameters (not requiring grad); row k is member k.
        grad: (K, P) gradient, filled before each update.
        n_matrix: the first ``n_matrix`` columns are weight matrices, the only ones decayed.
        kind: adam, adamw or sgd.
        lr, weight_decay: one value per member.
        betas, eps: Adam's and AdamW's.
        momentum, nesterov: SGD's (dampening 0).

    Example:
        >>> flat = torch.zeros(2, 3)
        >>> optimizer = MemberOptimizer(flat, torch.ones(2, 3), 0, "sgd", [0.5, 1.0], [0.0, 0.0])
        >>> optimizer.update([True, False])  # member 1 is frozen
        >>> flat.tolist()
        [[-0.5, -0.5, -0.5], [0.0, 0.0, 0.0]]
    """

    def __init__(self, flat: torch.Tensor, grad: torch.Tensor, n_matrix: int, kind: str,
                 lr: Sequence[float], weight_decay: Sequence[float],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 momentum: float = 0.0, nesterov: bool = False):
        if kind not in FAST_OPTIMIZERS:
            raise ValueError(f"no fused kernel for optimizer '{kind}'; use one of "
                             f"{FAST_OPTIMIZERS}")
        rows = list(flat.unbind(0))
        for row, row_grad in zip(rows, grad.unbind(0)):
            row.grad = row_grad
        groups = [{"params": [row], "lr": rate, "weight_decay": decay}
                  for row, rate, decay in zip(rows, lr, weight_decay)]
        super().__init__(groups, {"lr": lr[0], "weight_decay": 0.0, "betas": tuple(betas),
                                  "eps": eps, "momentum": momentum, "nesterov": nesterov})
        self.kind, self.flat, self.grad, self.n_matrix = kind, flat, grad, n_matrix
        self.members = len(rows)
        self.steps = torch.zeros(self.members, dtype=torch.float32, device=flat.device)
        blocks = 2 if kind != "sgd" else (1 if momentum else 0)
        self.blocks = [torch.zeros_like(flat) for _ in range(blocks)]
        self._bind_state()
        # Every member has taken every step so far: their step counts agree, so one kernel
        # call (which reads one count for its tensor) corrects every member's bias alike.
        self.uniform_steps = True
        self._watched = "momentum" if kind == "sgd" else "betas"
        self._difference = torch.empty_like(flat)  # scratch for scaling updates by rate
        self._plan_key = None
        self._plan: list = []
        self.register_load_state_dict_post_hook(_after_load)

    def step(self, closure=None) -> None:  # torch's entry point; every member trains
        self.update(None)

    def update(self, active: Sequence[bool] | None = None) -> None:
        """One step for the members flagged in ``active`` (None: all); others stay untouched."""
        groups = self.param_groups
        # What a scheduler may change: the rates, and momentum or betas (cycle_momentum).
        key = (None if active is None else tuple(active), tuple([g["lr"] for g in groups]),
               tuple([g[self._watched] for g in groups]))
        if key != self._plan_key:
            self._plan = self._make_plan([True] * self.members if active is None else active)
            self._plan_key = key
        for operation, arguments, options in self._plan:
            operation(*arguments, **options)
        if active is not None and not all(active):
            self.uniform_steps = False

    # ----------------------------------------------------------------- planning
    def _make_plan(self, active: Sequence[bool]) -> list[tuple]:
        """The step as a list of (callable, args, kwargs), rebuilt when rates or members change."""
        groups = self.param_groups
        lrs = [group["lr"] for group in groups]
        plan = self._decay_plan(lrs, active)
        if self.kind != "sgd":
            increment = torch.tensor([float(flag) for flag in active], device=self.flat.device)
            plan.append((self.steps.add_, (increment,), {}))
        kernel_keys = {self._kernel_key(group) for group in groups}
        if all(active) and self.uniform_steps and len(kernel_keys) == 1:
            return plan + self._block_plan(lrs)
        return plan + self._row_plan(active)

    def _decay_plan(self, lrs: list[float], active: Sequence[bool]) -> list[tuple]:
        """Weight decay on the matrices, per member (zero for frozen ones), outside the kernel.

        Adam and SGD add ``decay * W`` to the gradient (L2); AdamW shrinks ``W`` by
        ``1 - lr * decay`` before the update, as torch's kernels do.
        """
        decays = [group["weight_decay"] if flag else 0.0
                  for group, flag in zip(self.param_groups, active)]
        if not any(decays):
            return []
        device, dtype = self.flat.device, self.flat.dtype
        matrices = self.flat[:, :self.n_matrix]
        if self.kind == "adamw":
            factor = torch.tensor([[1.0 - lr * decay] for lr, decay in zip(lrs, decays)],
                                  dtype=dtype, device=device)
            return [(matrices.mul_, (factor,), {})]
        column = torch.tensor([[decay] for decay in decays], dtype=dtype, device=device)
        return [(self.grad[:, :self.n_matrix].addcmul_, (matrices, column), {})]

    def _block_plan(self, lrs: list[float]) -> list[tuple]:
        """Every member in one kernel call; different rates scale the update afterwards."""
        tensors = [[self.flat], [self.grad], *[[block] for block in self.blocks]]
        if len(set(lrs)) == 1:
            return [self._kernel(tensors, [self.steps[0]], lrs[0], self.param_groups[0])]
        before = torch.empty_like(self.flat)
        rates = torch.tensor([[lr] for lr in lrs], dtype=self.flat.dtype, device=self.flat.device)
        # flat <- before + lr_k * (kernel(before, lr=1) - before)
        return [(before.copy_, (self.flat,), {}),
                self._kernel(tensors, [self.steps[0]], 1.0, self.param_groups[0]),
                (torch.sub, (self.flat, before), {"out": self._difference}),
                (torch.addcmul, (before, self._difference, rates), {"out": self.flat})]

    def _row_plan(self, active: Sequence[bool]) -> list[tuple]:
        """The training members' rows as separate tensors, one kernel call per rate."""
        buckets: dict[tuple, list[int]] = {}
        for member, (group, flag) in enumerate(zip(self.param_groups, active)):
            if flag:
                buckets.setdefault((group["lr"], self._kernel_key(group)), []).append(member)
        plan = []
        for (lr, _), members in buckets.items():
            tensors = [[tensor[m] for m in members]
                       for tensor in (self.flat, self.grad, *self.blocks)]
            plan.append(self._kernel(tensors, [self.steps[m] for m in members], lr,
                                     self.param_groups[members[0]]))
        return plan

    def _kernel(self, tensors: list[list[torch.Tensor]], steps: list[torch.Tensor], lr: float,
                group: dict) -> tuple:
        """One fused-kernel call (weight decay 0: ``_decay_plan`` applied it)."""
        if self.kind == "sgd":
            buffers = tensors[2] if len(tensors) > 2 else []
            return (torch._fused_sgd_, (tensors[0], tensors[1], buffers),
                    {"weight_decay": 0.0, "momentum": group["momentum"], "lr": lr,
                     "dampening": 0.0, "nesterov": group["nesterov"], "maximize": False,
                     "is_first_step": False})
        beta1, beta2 = group["betas"]
        return (torch._fused_adam_, (*tensors, [], steps),
                {"lr": lr, "beta1": beta1, "beta2": beta2, "weight_decay": 0.0,
                 "eps": group["eps"], "amsgrad": False, "maximize": False})

    def _kernel_key(self, group: dict) -> tuple:
        """What besides lr one kernel call needs to share (schedulers may cycle momentum)."""
        if self.kind == "sgd":
            return (group["momentum"], group["nesterov"])
        return (tuple(group["betas"]), group["eps"])

    def _bind_state(self) -> None:
        """Point every member's optimizer state at its rows of the blocks."""
        names = ("momentum_buffer",) if self.kind == "sgd" else ("exp_avg", "exp_avg_sq")
        for member, group in enumerate(self.param_groups):
            state = self.state[group["params"][0]]
            if self.kind != "sgd":
                state["step"] = self.steps[member]
            for name, block in zip(names, self.blocks):
                state[name] = block[member]


def _after_load(optimizer: MemberOptimizer) -> None:
    """``load_state_dict`` made new state tensors: copy them into the blocks and rebind."""
    names = ("momentum_buffer",) if optimizer.kind == "sgd" else ("exp_avg", "exp_avg_sq")
    for member, group in enumerate(optimizer.param_groups):
        state = optimizer.state[group["params"][0]]
        if optimizer.kind != "sgd":
            optimizer.steps[member].copy_(state["step"])
        for name, block in zip(names, optimizer.blocks):
            if name in state:
                block[member].copy_(state[name])
    optimizer._bind_state()
    # One read, at load time only: do the loaded members agree on their step count?
    optimizer.uniform_steps = bool((optimizer.steps == optimizer.steps[0]).all())
    optimizer._plan_key = None


def take_member_optimizer_state(target, member: int, source: torch.optim.Optimizer,
                                split: int) -> None:
    """The reverse of ``copy_member_optimizer_state``: a single model's fused optimizer state
    (a resumed member's) into row ``member`` of a ``MemberOptimizer``."""
    names = ("momentum_buffer",) if target.kind == "sgd" else ("exp_avg", "exp_avg_sq")
    pieces = (slice(None, split), slice(split, None))
    for group, piece in zip(source.param_groups, pieces):
        state = source.state.get(group["params"][0], {})
        for name, block in zip(names, target.blocks):
            if name in state:
                block[member, piece].copy_(state[name])
        if target.kind != "sgd" and "step" in state:
            target.steps[member].copy_(state["step"])
    # As after ``load_state_dict``: members whose step counts differ need their own kernels.
    target.uniform_steps = bool((target.steps == target.steps[0]).all())
    target._plan_key = None
