"""Partial weight loading for transfer learning: take what fits, skip what does not, say which.

``model.init_from`` with ``model.init_from_strict: false`` loads a source run's tensors by
name wherever the shape matches (e.g. every hidden layer) and leaves the rest at their fresh
initialisation (e.g. a new output layer for a different number of classes). The report of
what happened is printed, saved as ``init_from.json`` and shown by ``trainwise show``.
"""

from __future__ import annotations

import torch
from torch import nn

from trainwise.run_files import INIT_REPORT_FILE as REPORT_FILE
from trainwise.training.band_transfer import describe_first_conv


def load_matching_weights(model: nn.Module, weights: dict[str, torch.Tensor]) -> dict:
    """Copy each tensor of ``weights`` whose name and shape match one of ``model``'s.

    Args:
        model: the freshly initialised model (parameters and buffers, by ``state_dict`` name).
        weights: the source's ``state_dict``-style tensors.

    Returns:
        ``{"loaded": [names], "skipped": [{"name", "reason"}]}``; names in model order, then
        the source's names the model does not have.
    """
    own = model.state_dict()
    loaded, skipped = {}, []
    for name, tensor in own.items():
        if name not in weights:
            skipped.append({"name": name, "reason": "not in the source run: keeps its fresh "
                                                    "initialisation"})
        elif weights[name].shape != tensor.shape:
            skipped.append({"name": name, "reason": f"shape differs: source "
                                                    f"{tuple(weights[name].shape)}, this model "
                                                    f"{tuple(tensor.shape)}; keeps its fresh "
                                                    "initialisation"})
        else:
            loaded[name] = weights[name]
    skipped += [{"name": name, "reason": "not in this model: ignored"}
                for name in weights if name not in own]
    # strict=False: the skipped names keep the values they have now.
    model.load_state_dict(loaded, strict=False)
    return {"loaded": list(loaded), "skipped": skipped}


def describe_init_report(report: dict) -> str:
    """A few plain lines: where the weights came from, how many loaded, the first
    convolution's bands when they were adapted (``band_transfer``), each skip and why."""
    loaded, skipped = report["loaded"], report["skipped"]
    mode = "strict" if report.get("strict", True) else "partial"
    lines = [f"model.init_from ({mode}): loaded {len(loaded)} tensors from "
             f"{report['source']}, skipped {len(skipped)}"]
    if report.get("first_conv"):
        lines.append(describe_first_conv(report["first_conv"]))
    lines += [f"  skipped {item['name']}: {item['reason']}" for item in skipped]
    return "\n".join(lines)
