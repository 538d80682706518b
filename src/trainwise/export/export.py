"""``export_run``: a finished run to one ONNX or pt2 file that takes raw inputs, checked
against ``Run.predict`` before it is written.

Example:
    >>> from trainwise.run import load_run
    >>> result = export_run(load_run("last"), "onnx")                     # doctest: +SKIP
    >>> result.path, result.parity.max_abs                                 # doctest: +SKIP
    (PosixPath('runs/20261121-101500-auto_mpg/model.onnx'), {'prediction': 4.8e-07})
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainwise.atomic import write_atomic
from trainwise.errors import UserError
from trainwise.export.check_rows import held_out_inputs
from trainwise.export.graph import GraphInput, build_graph
from trainwise.export.metadata import export_metadata
from trainwise.export.onnx_format import onnx_bytes, onnx_runner, require_onnx
from trainwise.export.parity import Parity, check_parity, expected_outputs, graph_inputs
from trainwise.export.pt2_format import pt2_bytes, pt2_runner
from trainwise.export.trace import trace
from trainwise.run import Run

FORMATS = ("onnx", "pt2")
SIZES = ("auto", "fixed", "dynamic")


class ExportMismatch(Exception):
    """The exported model does not reproduce ``Run.predict`` within the tolerance; nothing
    was written. Not the user's doing: the CLI exits with code 1."""

    def __init__(self, message: str, parity: Parity):
        super().__init__(message)
        self.parity = parity


@dataclass
class ExportResult:
    """What was written and how it was checked."""

    path: Path
    format: str
    graph_input: GraphInput
    output_names: tuple[str, ...]
    metadata: dict
    parity: Parity
    size_bytes: int


def export_run(run: Run, format: str, out: str | Path | None = None, size: str = "auto",
               check_input: str | None = None) -> ExportResult:
    """Export ``run``'s preprocessing, model and output head, check it, write it atomically.

    Args:
        run: a finished run.
        format: "onnx" (needs the ``onnx`` extra) or "pt2" (``torch.export``).
        out: the file to write; None: ``model.<format>`` in the run's directory.
        size: spatial axes of convolutional inputs: "auto", "fixed" or "dynamic".
        check_input: raw inputs to check on (as ``trainwise predict --input`` reads them);
            None: the run's test split.

    Raises:
        UserError: the run or the format cannot be exported (naming why and the fix).
        ExportMismatch: the exported model disagrees with ``Run.predict``; nothing written.
    """
    if format == "onnx":
        require_onnx(run.id)
    graph, graph_input = build_graph(run, size)
    raw, source = _check_inputs(run, check_input)
    program = trace(graph, graph_input, size, run.id, run.config.model.name)
    metadata = export_metadata(run, graph_input, graph.output_names)
    if format == "onnx":
        serialised = onnx_bytes(program, graph_input, graph.output_names, metadata)
        run_exported = onnx_runner(serialised, graph_input.name)
    else:
        serialised = pt2_bytes(program, metadata)
        run_exported = pt2_runner(serialised, graph.output_names)
    parity = check_parity(run_exported, graph_inputs(run, raw, source),
                          expected_outputs(run, raw, source), source)
    if not parity.passed:
        raise ExportMismatch(f"the {format} export of run {run.id} does not reproduce "
                             f"trainwise's predictions: {parity.describe()}. Nothing was "
                             "written; please report this with the run's config.", parity)
    path = Path(out) if out is not None else run.path / f"model.{format}"
    write_atomic(path, lambda handle: handle.write(serialised))
    return ExportResult(path, format, graph_input, graph.output_names, metadata, parity,
                        len(serialised))


def _check_inputs(run: Run, check_input: str | None):
    if check_input is None:
        return held_out_inputs(run)
    raw = run.inputs.read(check_input, "--check-input", run.config)
    if not len(run.inputs.index(raw)):  # nothing to compare would pass any export
        raise UserError(f"--check-input '{check_input}' holds no rows or samples; give some.")
    return raw, f"--check-input '{check_input}'"
