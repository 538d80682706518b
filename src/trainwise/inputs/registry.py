"""The input kinds ``data.kind`` can name. Adding one: subclass ``inputs.base.InputKind`` and
add an instance here (its ``name`` is the config's value)."""

from __future__ import annotations

from trainwise.inputs.arrays.kind import Frames, Images
from trainwise.inputs.base import InputKind
from trainwise.inputs.raster.kind import Raster
from trainwise.inputs.tabular import Tabular

INPUT_KINDS: dict[str, InputKind] = {kind.name: kind for kind in (Tabular(), Frames(),
                                                                   Images(), Raster())}


def input_kind_for(name: str) -> InputKind:
    """The input kind registered as ``name`` (a validated ``data.kind``)."""
    return INPUT_KINDS[name]
