"""Model builders by name: the MLP, a layer list (cnn), the resnet and unet presets, or the
user's own ``nn.Module`` by import path."""

from trainwise.models.build import build_model
from trainwise.models.cnn import LayerStack
from trainwise.models.mlp import MLP
from trainwise.models.resnet import ResNet
from trainwise.models.summary import summarize_model
from trainwise.models.unet import UNet

__all__ = ["MLP", "LayerStack", "ResNet", "UNet", "build_model", "summarize_model"]
