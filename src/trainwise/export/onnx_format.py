"""``--format onnx``: the traced program through torch's ONNX exporter (``dynamo=True``,
onnxscript), axes named, metadata attached, then run in onnxruntime for the parity check."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import numpy as np
from torch.export import ExportedProgram

from trainwise.errors import UserError
from trainwise.export.graph import GraphInput
from trainwise.export.metadata import onnx_properties
from trainwise.export.trace import quiet_exporter, traced_shape

EXTRA_MODULES = ("onnx", "onnxscript", "onnxruntime")  # pyproject's extra 'onnx'


def require_onnx(run_id: str) -> None:
    """Refuse early, before any work, when the ``onnx`` extra is not installed."""
    missing = [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"exporting run {run_id} to ONNX needs {', '.join(missing)}, which "
                        "is not installed. Install the extra: pip install 'trainwise[onnx]' "
                        "(or export with --format pt2, which needs torch only).")


def onnx_bytes(program: ExportedProgram, graph_input: GraphInput,
               output_names: tuple[str, ...], metadata: dict) -> bytes:
    """The serialised ONNX model (opset chosen by torch), one file, no external data."""
    import torch

    with quiet_exporter():
        exported = torch.onnx.export(program, dynamo=True, input_names=[graph_input.name],
                                     verbose=False)
    model = exported.model_proto
    _name_outputs(model, output_names)
    _name_axes(model, traced_shape(program), graph_input)
    model.producer_name = "trainwise"
    for key, value in onnx_properties(metadata).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()


def onnx_runner(serialised: bytes, input_name: str) -> Callable[[np.ndarray], dict]:
    """Run the serialised model in onnxruntime (CPU): inputs -> {output name: array}."""
    import onnxruntime

    session = onnxruntime.InferenceSession(serialised, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]

    def run(inputs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(names, session.run(names, {input_name: inputs})))

    return run


def _name_outputs(model, output_names: tuple[str, ...]) -> None:
    """Name the outputs ``output_names``. Not through the exporter's ``output_names``: it
    renames the output without renaming an inner value that already has the name (the
    ensemble's ``mean`` op), which makes the model invalid. Inner values step aside first."""
    taken = {name for node in model.graph.node for name in node.output}
    for name in output_names:
        if name in taken and name not in (output.name for output in model.graph.output):
            _rename_value(model, name, f"{name}_inner")
    for output, name in zip(list(model.graph.output), output_names):
        _rename_value(model, output.name, name)


def _rename_value(model, old: str, new: str) -> None:
    """Rename one value wherever the (flat, subgraph-free) graph mentions it."""
    graph = model.graph
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for value in [*graph.output, *graph.value_info, *graph.initializer]:
        if value.name == old:
            value.name = new


def _name_axes(model, shape: list, graph_input: GraphInput) -> None:
    """Give the dynamic axes readable names (``batch``, ``length``, ``height``, ``width``)
    in place of torch's symbols (``s77``), everywhere the symbol appears, and write fixed
    axes as numbers (the exporter may leave a specialised size as a symbol)."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    renamed = {}
    for axis, (dim, traced) in enumerate(zip(dims, shape)):
        if isinstance(traced, int):
            dim.dim_value = traced  # clears dim_param: a oneof
        elif axis in graph_input.dynamic:
            renamed[dim.dim_param] = graph_input.dynamic[axis]
            dim.dim_param = graph_input.dynamic[axis]
    for value in [*model.graph.output, *model.graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in renamed:
                dim.dim_param = renamed[dim.dim_param]
