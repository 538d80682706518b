"""Whether a layer of ``model.layers`` can take its input's shape, explained when it cannot.

Shapes are one sample's, channels first: ``(features,)``, ``(channels, length)`` for 1-D
frames, ``(channels, height, width)`` for images. A misfit found here stops the run before
anything trains, with the layer's index, what it got, and the fix.
"""

from __future__ import annotations

from trainwise.config.model import LayerSpec
from trainwise.errors import UserError

_AXES = {1: ("features",), 2: ("channels", "length"), 3: ("channels", "height", "width")}
# The input ranks (per sample) each layer type takes; a type not listed takes any.
_RANKS = {"conv1d": (2,), "conv2d": (3,), "maxpool1d": (2,), "maxpool2d": (3,),
          "avgpool1d": (2,), "avgpool2d": (3,), "globalavgpool": (2, 3), "batchnorm": (1, 2, 3)}


def describe_shape(shape: tuple[int, ...]) -> str:
    """``(16, 1, 1) (channels, height, width)``: the numbers and what each axis is."""
    axes = _AXES.get(len(shape))
    return f"{tuple(shape)} ({', '.join(axes)})" if axes else str(tuple(shape))


def layer_name(index: int, spec: LayerSpec) -> str:
    """``model.layers[3] (maxpool2d, size 2)``: where a message points in the config."""
    return f"model.layers[{index}] ({spec.label()})"


def check_layer_fits(index: int, spec: LayerSpec, shape: tuple[int, ...]) -> None:
    """Refuse a layer whose input has the wrong rank or is too small for it.

    Args:
        index: the layer's position in ``model.layers``.
        spec: the layer's settings.
        shape: its input's shape, one sample, channels first.

    Raises:
        UserError: naming the layer, its input's shape and the fix.
    """
    problem = _rank_problem(index, spec.type, len(shape)) or _size_problem(spec, shape)
    if problem:
        raise UserError(f"{layer_name(index, spec)}: its input is shaped "
                        f"{describe_shape(shape)}, {problem}")


def _rank_problem(index: int, kind: str, rank: int) -> str | None:
    ranks = _RANKS.get(kind)
    if ranks is None or rank in ranks:
        return None
    wanted = " or ".join(f"({', '.join(_AXES[wanted])})" for wanted in ranks)
    return f"but {kind} needs {wanted}; {_rank_fix(index, kind, rank)}"


def _rank_fix(index: int, kind: str, rank: int) -> str:
    if rank == 1 and index == 0:
        return "the inputs are flat feature vectors: use dense layers, or model.name: mlp"
    if rank == 1:
        return ("an earlier flatten, dense or globalavgpool layer made it flat: move this "
                "layer before that one")
    if kind.endswith("1d") and rank == 3:
        return f"use {kind[:-2]}2d for images"
    if kind.endswith("2d") and rank == 2:
        return f"use {kind[:-2]}1d for 1-D frames"
    return "check the shape the input kind gives (data.kind)"


def _size_problem(spec: LayerSpec, shape: tuple[int, ...]) -> str | None:
    spatial = shape[1:]  # length, or height and width
    if spec.type in ("conv1d", "conv2d") and spec.padding != "same":
        padding = 0 if spec.padding == "valid" else spec.padding
        if min(spatial) + 2 * padding < spec.kernel:
            return (f"too small for kernel {spec.kernel} with padding {spec.padding}; use "
                    "padding: same, a smaller kernel, or downsample less earlier")
    if spec.type.endswith(("pool1d", "pool2d")) and min(spatial) < spec.size:
        return "too small to pool; remove the layer or pool less earlier"
    return None
