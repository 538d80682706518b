"""A Keras-style model summary (layers, output shapes, parameters) as plain data and text."""

from __future__ import annotations

import torchinfo
from torch import nn


def summarize_model(model: nn.Module, input_shape: int | tuple[int, ...],
                    device: str = "cpu") -> dict:
    """Return ``{"layers": [...], "total_params": n, "trainable_params": n, "text": str}``.

    Each layer is ``{"name", "type", "output_shape", "params"}``; shapes are for a batch of 1.
    """
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    stats = torchinfo.summary(model, input_size=(1, *shape), device=device, verbose=0,
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
        "input_shape": [None, *shape],
        "total_params": int(stats.total_params),
        "trainable_params": int(stats.trainable_params),
        "text": str(stats),
    }
