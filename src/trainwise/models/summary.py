"""A Keras-style model summary (layers, output shapes, parameters) as plain data and text."""

from __future__ import annotations

import torchinfo
from torch import nn


def summarize_model(model: nn.Module, n_inputs: int, device: str = "cpu") -> dict:
    """Return ``{"layers": [...], "total_params": n, "trainable_params": n, "text": str}``.

    Each layer is ``{"name", "type", "output_shape", "params"}``; shapes are for a batch of 1.
    """
    stats = torchinfo.summary(model, input_size=(1, n_inputs), device=device, verbose=0,
                              col_names=("output_size", "num_params"), depth=4)
    layers = [
        {
            "name": info.var_name,
            "type": info.class_name,
            "output_shape": list(info.output_size),
            "params": int(info.num_params) if info.is_leaf_layer else 0,
        }
        for info in stats.summary_list
        if info.is_leaf_layer
    ]
    return {
        "layers": layers,
        "input_shape": [None, n_inputs],
        "total_params": int(stats.total_params),
        "trainable_params": int(stats.trainable_params),
        "text": str(stats),
    }
