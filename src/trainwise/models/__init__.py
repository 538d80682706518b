"""Model builders by name: the MLP, or the user's own ``nn.Module`` by import path."""

from trainwise.models.build import build_model
from trainwise.models.mlp import MLP
from trainwise.models.summary import summarize_model

__all__ = ["MLP", "build_model", "summarize_model"]
