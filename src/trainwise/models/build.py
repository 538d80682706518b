"""Build the configured model: the MLP, a layer list (cnn), the resnet or unet preset by
name, or the user's ``nn.Module`` by import path."""

from __future__ import annotations

import importlib
import os
import sys

from torch import nn

from trainwise.config.schema import ModelConfig
from trainwise.errors import UserError
from trainwise.models.cnn import build_layer_stack
from trainwise.models.ensemble import Ensemble
from trainwise.models.gaussian import GaussianMLP
from trainwise.models.init import initialize_weights
from trainwise.models.memory_format import prefer_channels_last
from trainwise.models.mlp import MLP
from trainwise.models.resnet import build_resnet
from trainwise.models.pixel_mlp import build_pixel_mlp
from trainwise.models.unet import build_unet

_CONVOLUTIONAL = ("cnn", "resnet", "unet", "pixel_mlp")  # the builders that take the sample's whole shape


def build_model(model_cfg: ModelConfig, input_shape: int | tuple[int, ...], n_outputs: int,
                probabilistic: bool = False) -> nn.Module:
    """Return a freshly initialised model for inputs of ``input_shape`` and ``n_outputs`` outputs.

    Args:
        model_cfg: the ``model`` section.
        input_shape: one sample's shape as the input kind gives it (``inputs.base``), channels
            first: ``(features,)``, ``(channels, length)`` or ``(channels, height, width)``;
            an int is a number of features. The MLPs and a user module take feature vectors
            (a user module is called as ``Class(n_inputs=..., n_outputs=..., **model.kwargs)``);
            cnn, resnet and unet take the whole shape.
        n_outputs: 1 for regression, the number of classes for classification (for unet,
            per pixel).
        probabilistic: build a Gaussian network (N, 2) = (mean, variance) instead, or with
            ``model.ensemble`` > 1 an ``Ensemble`` of them, (N, K, 2).

    Returns:
        The model, initialised with ``model.init``.

    Raises:
        UserError: the model does not fit the inputs' shape (naming the layer at fault), a
            probabilistic task with a convolutional model, or a user module that fails to
            import or build.
    """
    if probabilistic:
        return _probabilistic_model(model_cfg, input_shape)
    if model_cfg.name == "mlp":
        model = MLP(_feature_count(input_shape), n_outputs, model_cfg.hidden,
                    model_cfg.activation, model_cfg.leaky_relu_slope, model_cfg.dropout,
                    model_cfg.batch_norm, model_cfg.input_noise)
    elif model_cfg.name == "cnn":
        model = build_layer_stack(model_cfg.layers, _sample_shape(input_shape), n_outputs,
                                  model_cfg.leaky_relu_slope)
    elif model_cfg.name == "resnet":
        model = build_resnet(_sample_shape(input_shape), n_outputs, model_cfg.widths,
                             model_cfg.activation, model_cfg.leaky_relu_slope,
                             model_cfg.dropout)
    elif model_cfg.name == "unet":
        model = build_unet(_sample_shape(input_shape), n_outputs, model_cfg.depth,
                           model_cfg.width, model_cfg.activation, model_cfg.leaky_relu_slope,
                           model_cfg.dropout, model_cfg.batch_norm)
    elif model_cfg.name == "pixel_mlp":
        model = build_pixel_mlp(_sample_shape(input_shape), n_outputs, model_cfg.hidden,
                                model_cfg.activation, model_cfg.leaky_relu_slope,
                                model_cfg.dropout, model_cfg.batch_norm)
    else:
        model = _user_module(model_cfg, _feature_count(input_shape), n_outputs)
    initialize_weights(model, model_cfg.init, model_cfg.activation)
    return prefer_channels_last(model)


def _probabilistic_model(model_cfg: ModelConfig, input_shape: int | tuple[int, ...]) -> nn.Module:
    if model_cfg.name in _CONVOLUTIONAL:
        raise UserError(f"task.type probabilistic_regression needs model.name mlp (its "
                        f"Gaussian head sits on the mlp body); model.name '{model_cfg.name}' "
                        "is not supported for it yet. Set model.name: mlp")
    n_inputs = _feature_count(input_shape)
    members = [_gaussian_mlp(model_cfg, n_inputs) for _ in range(model_cfg.ensemble)]
    return members[0] if len(members) == 1 else Ensemble(members)


def _user_module(model_cfg: ModelConfig, n_inputs: int, n_outputs: int) -> nn.Module:
    model_class = _import_module_class(model_cfg.name)
    try:
        return model_class(n_inputs=n_inputs, n_outputs=n_outputs, **model_cfg.kwargs)
    except TypeError as err:
        raise UserError(f"model.name '{model_cfg.name}' could not be built with "
                        f"n_inputs, n_outputs and model.kwargs {model_cfg.kwargs}: {err}. "
                        "Its __init__ must accept those keyword arguments.") from None


def _sample_shape(input_shape: int | tuple[int, ...]) -> tuple[int, ...]:
    return (input_shape,) if isinstance(input_shape, int) else tuple(int(n) for n in input_shape)


def _feature_count(input_shape: int | tuple[int, ...]) -> int:
    if isinstance(input_shape, int):
        return input_shape
    if len(input_shape) != 1:
        raise UserError(f"the MLP models take one feature vector per sample, but the inputs "
                        f"are shaped {tuple(input_shape)}; choose a model for that shape.")
    return int(input_shape[0])


def _gaussian_mlp(model_cfg: ModelConfig, n_inputs: int) -> GaussianMLP:
    return GaussianMLP(n_inputs, model_cfg.hidden, model_cfg.activation,
                       model_cfg.leaky_relu_slope, model_cfg.dropout, model_cfg.batch_norm,
                       model_cfg.input_noise, model_cfg.min_variance, model_cfg.init)


def _import_module_class(path: str) -> type[nn.Module]:
    module_name, _, class_name = path.partition(":")
    # Like `python -m`, find the user's modules in the folder they run trainwise from.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as err:
        raise UserError(f"model.name '{path}' could not be imported ({err}); give it as "
                        "'package.module:ClassName', importable from the current folder or PYTHONPATH.") from None
    if not (isinstance(found, type) and issubclass(found, nn.Module)):
        raise UserError(f"model.name '{path}' is not a torch.nn.Module subclass.")
    return found
