"""From a finished run to the module that is exported: its preprocessing, its model and its
output head in one ``ExportGraph``, with the input's name, shape and dynamic axes.

What a graph cannot carry is refused here, before anything is traced, with the run, the
reason and the fix: a raster run (its predictions come from a sliding window over a scene,
which is ``trainwise segment``'s loop, not a layer), segmentation, and MC dropout (its seeded
random masks are not part of the network).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from trainwise.errors import UserError
from trainwise.export.inputs import ArrayInputs, TableInputs
from trainwise.export.outputs import (
    ClassificationOutput,
    ExportGraph,
    GaussianOutput,
    RegressionOutput,
)
from trainwise.models.blocks import GlobalAvgPool
from trainwise.run import Run

SPATIAL_AXES = {1: ("length",), 2: ("height", "width")}  # by a sample's spatial rank
EXAMPLE_BATCH = 2  # torch.export fixes a size of 0 or 1 in place; 2 keeps the batch dynamic


@dataclass
class GraphInput:
    """The exported graph's one input."""

    name: str  # "rows" for a table, "samples" for arrays
    shape: tuple[int, ...]  # one sample's shape: (columns,), (C, L) or (C, H, W)
    # axis -> name of the axes that may vary: the batch, and the spatial axes when allowed.
    dynamic: dict[int, str] = field(default_factory=dict)
    # Why the spatial axes are fixed (None: they are dynamic, or there are none).
    fixed_because: str | None = None

    def example(self) -> torch.Tensor:
        return torch.zeros(EXAMPLE_BATCH, *self.shape)


def build_graph(run: Run, size: str = "auto") -> tuple[ExportGraph, GraphInput]:
    """The run's preprocessing, model and output head as one module (eval mode, on the CPU).

    Args:
        run: a finished run.
        size: for convolutional inputs, "auto" (height and width, or length, dynamic where
            the model pools globally), "fixed", or "dynamic" (refused where impossible).

    Raises:
        UserError: the run cannot be exported (naming why and the fix), or has not finished.
    """
    refuse_unsupported(run)
    model = run.model.cpu().eval()  # raises the run's own "not finished" error first
    prep = run.preprocessor
    if run.config.data.kind == "tabular":
        inputs, graph_input = TableInputs(prep), GraphInput("rows", (len(prep.input_columns),))
    else:
        shape = tuple(prep.sample_shape)
        inputs = ArrayInputs(prep.channel_mean, prep.channel_std, len(shape) - 1)
        graph_input = GraphInput("samples", shape)
        graph_input.fixed_because = _spatial_axes(run, model, graph_input, size)
    graph_input.dynamic[0] = "batch"
    return ExportGraph(inputs, model, _output_head(run)).eval(), graph_input


def refuse_unsupported(run: Run) -> None:
    """A UserError for what an exported graph cannot reproduce."""
    cfg = run.config
    if cfg.data.kind == "raster" or cfg.task.type == "segmentation":
        raise UserError(
            f"run {run.id} is a {cfg.data.kind} {cfg.task.type} run: its maps come from a "
            "sliding window over a whole scene with per-band scaling (`trainwise segment`, "
            "`trainwise isoscape`), a loop outside the network that an exported graph does not "
            "carry. Map scenes with those commands; export runs on tables, frames or images.")
    if cfg.task.mc_dropout:
        raise UserError(
            f"run {run.id} predicts with task.mc_dropout: {cfg.task.mc_dropout}: its variance "
            "comes from repeated passes with seeded dropout masks, which an exported graph "
            "cannot reproduce. Export a run trained with task.mc_dropout: 0 (an ensemble, "
            "model.ensemble > 1, exports with its epistemic spread).")


def _spatial_axes(run: Run, model: torch.nn.Module, graph_input: GraphInput,
                  size: str) -> str | None:
    """Name the spatial axes dynamic where the model allows; return why not otherwise."""
    axes = SPATIAL_AXES.get(len(graph_input.shape) - 1, ())
    pools = any(isinstance(module, GlobalAvgPool) for module in model.modules())
    if size == "fixed":
        return "fixed on request (--size fixed)"
    if not pools:
        reason = (f"model.name {run.config.model.name} without a globalavgpool layer: its "
                  "output layer takes the flattened feature map, whose length depends on the "
                  "input size")
        if size == "dynamic":
            raise UserError(f"run {run.id}: --size dynamic is impossible: {reason}. Export "
                            "with --size fixed (or auto), or train with a globalavgpool layer "
                            "before the output layer.")
        return reason
    for offset, name in enumerate(axes):
        graph_input.dynamic[2 + offset] = name
    return None


def _output_head(run: Run) -> torch.nn.Module:
    prep = run.preprocessor
    if run.task.probabilistic:
        return GaussianOutput(prep.target_mean, prep.target_std)
    if prep.task == "classification":
        return ClassificationOutput()
    return RegressionOutput(prep.target_mean, prep.target_std)
