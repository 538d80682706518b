"""``--format pt2``: the traced program saved by ``torch.export.save``, the metadata as
``trainwise.json`` inside the archive; loaded back with ``torch.export.load`` for the parity
check, as a consumer would."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import numpy as np
import torch
from torch.export import ExportedProgram

from trainwise.export.metadata import PT2_METADATA_FILE


def pt2_bytes(program: ExportedProgram, metadata: dict) -> bytes:
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={PT2_METADATA_FILE: json.dumps(metadata)})
    return buffer.getvalue()


def load_pt2(source, metadata: dict | None = None) -> ExportedProgram:
    """``torch.export.load`` of a path or bytes; ``metadata`` (a dict) receives trainwise.json."""
    extra = {PT2_METADATA_FILE: ""}
    program = torch.export.load(io.BytesIO(source) if isinstance(source, bytes) else source,
                                extra_files=extra)
    if metadata is not None:
        metadata.update(json.loads(extra[PT2_METADATA_FILE]))
    return program


def pt2_runner(serialised: bytes, output_names: tuple[str, ...]) -> Callable[[np.ndarray], dict]:
    """Run the program loaded back from its bytes: inputs -> {output name: array}."""
    module = load_pt2(serialised).module()

    def run(inputs: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            outputs = module(torch.from_numpy(inputs))
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return {name: value.numpy() for name, value in zip(output_names, outputs)}

    return run
