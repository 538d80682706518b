"""How a sweep trains its members: as one batched model, one after another, or in processes.

Members train as one batched model (``sweep/batched.py``) when a batched model can hold their
differences: each member has its own learning rate, weight decay, dropout rate and seed
(initial weights and data order), while the architecture, data, loss and every other setting are shared. The
model must also be one the fused step trains (``fused_eligibility``). Otherwise the members
are separate runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainwise.config.dotted import flatten
from trainwise.config.schema import Config
from trainwise.data.split import split_seed
from trainwise.errors import UserError
from trainwise.sweep.grid import SweepMember

# Config paths whose values members of one batched model may differ in ("name" is a label).
PER_MEMBER_KEYS = frozenset({"name", "train.lr", "train.weight_decay", "train.seed",
                             "model.dropout"})


@dataclass(frozen=True)
class Plan:
    """The chosen way to train, and why (for the sweep's record and the console)."""

    mode: str  # batched, sequential or parallel
    reason: str


def choose_plan(members: list[SweepMember], requested: str, workers: int,
                fused_reason: str | None) -> Plan:
    """The plan for ``requested`` (auto, batched, sequential, parallel).

    Args:
        members: the sweep's runs.
        requested: ``sweep.mode``.
        workers: ``sweep.workers`` (parallel).
        fused_reason: why the fused step cannot train the first member's model, or None.

    Raises:
        UserError: ``batched`` was asked for and the members cannot be batched.
    """
    problem = batch_problem([member.config for member in members]) or (
        f"the fused step cannot train this model ({fused_reason})" if fused_reason else None)
    if requested == "batched" and problem:
        raise UserError(f"sweep.mode: batched is not possible: {problem}. Use sweep.mode: "
                        "sequential or parallel (or auto, which picks for you).")
    if requested in ("auto", "batched") and not problem:
        return Plan("batched", f"{len(members)} members differ only in learning rate, weight "
                               "decay, dropout or seed: trained as one batched model")
    if requested == "parallel":
        return Plan("parallel", f"separate runs in {workers} processes")
    reason = "separate runs, one after another"
    return Plan("sequential", f"{reason}: {problem}" if requested == "auto" else reason)


def batch_problem(configs: list[Config]) -> str | None:
    """Why these configs cannot train as one batched model, in words; None when they can."""
    base = configs[0]
    if base.train.lr == "auto":
        return "train.lr: auto runs a range test per run"
    if base.train.pseudo_label.enabled:
        return "train.pseudo_label changes the training rows during the run"
    per_member = set(PER_MEMBER_KEYS)
    if base.model.l2_as == "weight_decay":
        per_member.add("model.l2")  # becomes weight decay, which members may differ in
    flat_base = flatten(base.model_dump(mode="json", exclude={"sweep"}))
    for config in configs[1:]:
        flat = flatten(config.model_dump(mode="json", exclude={"sweep"}))
        differing = sorted(key for key in flat_base.keys() | flat.keys()
                           if key not in per_member and flat_base.get(key) != flat.get(key))
        if differing:
            return (f"members differ in {', '.join(differing)}, which one batched model shares "
                    "(it may differ only in train.lr, train.weight_decay, model.dropout and "
                    "train.seed)")
    if len({split_seed(config) for config in configs}) > 1:
        return ("members hold out different rows (train.seed also seeds the data split); set "
                "data.split.seed to share one split")
    return None
