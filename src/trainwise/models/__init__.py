"""Model builders by name: the MLP, a layer list (cnn), the resnet preset, or the user's own
``nn.Module`` by import path."""

from trainwise.models.build import build_model
from trainwise.models.cnn import LayerStack
from trainwise.models.mlp import MLP
from trainwise.models.resnet import ResNet
from trainwise.models.summary import summarize_model

__all__ = ["MLP", "LayerStack", "ResNet", "build_model", "summarize_model"]
