"""``torch.export`` of an ``ExportGraph``: one traced program that both formats start from,
with the batch axis dynamic and the spatial axes dynamic where the model allows."""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager

import torch
from torch.export import Dim, ExportedProgram

from trainwise.errors import UserError
from trainwise.export.graph import GraphInput
from trainwise.export.outputs import ExportGraph

# Loggers that report, at WARNING, that optional torchvision operators are not registered:
# noise for a trainwise graph, which uses none of them.
_QUIET_LOGGERS = ("torch.onnx._internal.exporter._registration",)


@contextmanager
def quiet_exporter():
    """Silence torch 2.13's own deprecation noise while exporting: a FutureWarning raised
    inside torch.export about its pytree internals (``LeafSpec``), which no caller can act
    on, and the torchvision registration log lines."""
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def trace(graph: ExportGraph, graph_input: GraphInput, size: str, run_id: str,
          model_name: str) -> ExportedProgram:
    """The graph as an ``ExportedProgram``; ``graph_input`` learns which axes stayed dynamic.

    The batch axis is always dynamic. Spatial axes are traced with ``Dim.AUTO``: torch keeps
    them symbolic unless an operation needs a constant size (seen with a bare ``MaxPool1d``
    as the whole model in torch 2.13), in which case they are fixed and
    ``graph_input.fixed_because`` says so.

    Raises:
        UserError: ``size == "dynamic"`` but torch fixed a spatial axis, or a user model
            (``model.name: module:Class``) that ``torch.export`` cannot trace.
    """
    axes = {axis: Dim.DYNAMIC if axis == 0 else Dim.AUTO for axis in graph_input.dynamic}
    try:
        with quiet_exporter():
            program = torch.export.export(graph, (graph_input.example(),),
                                          dynamic_shapes=(axes,))
    except Exception as err:  # torch raises many types; only a user's own module is theirs
        if ":" not in model_name:
            raise
        raise UserError(f"run {run_id}: torch.export could not trace model.name "
                        f"'{model_name}' ({str(err).splitlines()[0]}); make its forward "
                        "traceable (no data-dependent Python control flow), see "
                        "https://pytorch.org/docs/stable/export.html.") from None
    _drop_fixed_axes(program, graph_input, size, run_id)
    return program


def traced_shape(program: ExportedProgram) -> list:
    """The traced input's shape: ints for fixed axes, torch SymInts for dynamic ones."""
    user_input = program.graph_signature.user_inputs[0]
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == user_input)
    return list(node.meta["val"].shape)


def _drop_fixed_axes(program: ExportedProgram, graph_input: GraphInput, size: str,
                     run_id: str) -> None:
    shape = traced_shape(program)
    fixed = [name for axis, name in graph_input.dynamic.items()
             if axis > 0 and isinstance(shape[axis], int)]
    if not fixed:
        return
    reason = (f"torch.export fixed the {' and '.join(fixed)}: an operation of this model "
              "needs a constant size there")
    if size == "dynamic":
        raise UserError(f"run {run_id}: --size dynamic is impossible: {reason}. Export with "
                        "--size auto or fixed.")
    graph_input.fixed_because = reason
    graph_input.dynamic = {axis: name for axis, name in graph_input.dynamic.items()
                           if axis == 0 or name not in fixed}
