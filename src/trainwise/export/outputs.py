"""The end of an exported graph: the model's outputs in the units ``Run.predict`` gives.

Each head names its outputs, so an ONNX consumer reads them by name:

- regression: ``prediction`` (N,), in the target's units (the target scaling undone);
- classification: ``probabilities`` (N, classes), the softmax, and ``logits`` (N, classes);
- probabilistic regression: ``mean`` and ``variance`` (N,), in the target's units (squared
  for the variance); an ensemble's members are combined as ``Run.predict`` does (the
  mixture's first two moments).
"""

from __future__ import annotations

import torch
from torch import nn

from trainwise.models.predictive import mixture_parts


class RegressionOutput(nn.Module):
    """(N, 1) scaled outputs -> (N,) in the target's units."""

    names = ("prediction",)

    def __init__(self, target_mean: float, target_std: float):
        super().__init__()
        self.target_mean, self.target_std = float(target_mean), float(target_std)

    def forward(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs[:, 0] * self.target_std + self.target_mean


class ClassificationOutput(nn.Module):
    """(N, K) logits -> (probabilities, logits), both (N, K)."""

    names = ("probabilities", "logits")

    def forward(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.softmax(logits, dim=1), logits


class GaussianOutput(nn.Module):
    """(N, 2) or an ensemble's (N, K, 2) scaled Normals -> (mean, variance), each (N,), in
    the target's units."""

    names = ("mean", "variance")

    def __init__(self, target_mean: float, target_std: float):
        super().__init__()
        self.target_mean, self.target_std = float(target_mean), float(target_std)

    def forward(self, outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        parts = mixture_parts(outputs)
        return (parts["mean"] * self.target_std + self.target_mean,
                parts["variance"] * self.target_std ** 2)


class ExportGraph(nn.Module):
    """Raw inputs -> preprocessing -> the run's model -> outputs in the target's units."""

    def __init__(self, inputs: nn.Module, model: nn.Module, outputs: nn.Module):
        super().__init__()
        self.inputs, self.model, self.outputs = inputs, model, outputs

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.outputs.names

    def forward(self, raw: torch.Tensor):
        return self.outputs(self.model(self.inputs(raw)))
