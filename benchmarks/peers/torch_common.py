"""What the PyTorch-based peers share: the model from the shared weights, the loss, the device,
the score.

Written as a user would write it (``nn.Sequential`` of ``Linear`` and ``ReLU``, or of
``Conv2d``, ``ReLU``, ``MaxPool2d``, a global average pool and a ``Linear`` head); only loading
the shared initial weights is benchmark-specific.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from job import Data, Job, score

# Validation samples per forward pass for a CNN (a 32x32 frame's activations are large);
# an MLP's validation rows go through in one pass.
CNN_VAL_CHUNK = 1024


def make_model(data: Data, job: Job) -> nn.Sequential:
    """The scenario's network from the shared weights: ``job.layers``' CNN, or the MLP."""
    return make_cnn(job.layers, data.weights) if job.layers else make_mlp(data.weights)


def make_mlp(weights: list[tuple[np.ndarray, np.ndarray]]) -> nn.Sequential:
    """Linear -> ReLU -> ... -> Linear, starting from ``weights`` ((out, in), (out,) per layer)."""
    layers: list[nn.Module] = []
    for weight, bias in weights:
        layers += [_loaded(nn.Linear(weight.shape[1], weight.shape[0]), weight, bias), nn.ReLU()]
    return nn.Sequential(*layers[:-1])  # no activation after the output layer


def make_cnn(specs: list[dict], weights: list[tuple[np.ndarray, np.ndarray]]) -> nn.Sequential:
    """trainwise's ``model.layers`` (conv2d/maxpool2d/globalavgpool) as a plain
    ``nn.Sequential``, then the Linear head; ``weights`` (conv (out, in, kh, kw), head
    (out, in)) in order."""
    pending = iter(weights)
    layers: list[nn.Module] = []
    for spec in specs:
        if spec["type"] == "conv2d":
            weight, bias = next(pending)  # (out, in, kh, kw), (out,)
            conv = nn.Conv2d(weight.shape[1], weight.shape[0], spec["kernel"], padding="same")
            layers.append(_loaded(conv, weight, bias))
            if spec.get("activation"):
                layers.append(nn.ReLU())
        elif spec["type"] == "maxpool2d":
            layers.append(nn.MaxPool2d(spec["size"]))
        elif spec["type"] == "globalavgpool":
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # (N, C, H, W) -> (N, C)
        else:
            raise ValueError(f"the benchmark's CNN has no {spec['type']} layer")
    weight, bias = next(pending)
    return nn.Sequential(*layers, _loaded(nn.Linear(weight.shape[1], weight.shape[0]),
                                          weight, bias))


def _loaded(layer: nn.Module, weight: np.ndarray, bias: np.ndarray) -> nn.Module:
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))
    return layer


def criterion(job: Job) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``loss(model_output, target)``: cross-entropy on logits for classes, else MSE on the
    one output."""
    if job.n_classes:
        return nn.CrossEntropyLoss()
    mse = nn.MSELoss()
    return lambda output, target: mse(output.squeeze(-1), target)  # (B, 1) -> (B,)


def device_of(name: str) -> torch.device:
    """The job's device; "cuda" must exist (a silent CPU fallback would mislabel the timing)."""
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: torch sees no CUDA device here")
    return torch.device(name)


def tensors(data: Data, device: torch.device) -> tuple[torch.Tensor, ...]:
    """``x_train``, ``y_train``, ``x_val``, ``y_val`` on ``device``."""
    return tuple(torch.from_numpy(array).to(device)
                 for array in (data.x_train, data.y_train, data.x_val, data.y_val))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, job: Job) -> torch.Tensor:
    """The model's outputs for all of ``x`` in eval mode (a CNN in chunks)."""
    model.eval()
    chunk = CNN_VAL_CHUNK if job.layers else len(x)
    return torch.cat([model(x[start:start + chunk]) for start in range(0, len(x), chunk)])


def val_loss(model: nn.Module, data: Data, device: torch.device, job: Job) -> float:
    """The final model's loss on all validation samples, in eval mode (every tool's score)."""
    prediction = predict(model, torch.from_numpy(data.x_val).to(device), job)  # (M, 1) / (M, K)
    return score(prediction.cpu().numpy(), data.y_val, job.n_classes)
