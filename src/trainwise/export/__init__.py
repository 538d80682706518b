"""Export a finished run to ONNX or a ``torch.export`` program (pt2) that takes raw inputs:
preprocessing, model and output un-scaling in one graph, checked against ``Run.predict``."""

from trainwise.export.export import (
           FORMATS,
           SIZES,
           ExportMismatch,
           ExportResult,
           export_run,
)
from trainwise.export.inputs import encode_rows
from trainwise.export.pt2_format import load_pt2

__all__ = ["FORMATS", "SIZES", "ExportMismatch", "ExportResult", "encode_rows", "export_run",
           "load_pt2"]
