"""Build the configured model: the MLP by name, or the user's ``nn.Module`` by import path."""

from __future__ import annotations

import importlib
import os
import sys

from torch import nn

from trainwise.config.schema import ModelConfig
from trainwise.errors import UserError
from trainwise.models.ensemble import Ensemble
from trainwise.models.gaussian import GaussianMLP
from trainwise.models.init import initialize_weights
from trainwise.models.mlp import MLP


def build_model(model_cfg: ModelConfig, input_shape: int | tuple[int, ...], n_outputs: int,
                probabilistic: bool = False) -> nn.Module:
    """Return a freshly initialised model for inputs of ``input_shape`` and ``n_outputs`` outputs.

    ``input_shape`` is one sample's shape as the input kind gives it (``inputs.base``), or
    the number of features. The MLPs take one feature vector per sample: ``(n_inputs,)``.
    A user module is called as ``Class(n_inputs=..., n_outputs=..., **model.kwargs)``.
    ``probabilistic`` builds a Gaussian network (N, 2) = (mean, variance) instead, or with
    ``model.ensemble`` > 1 an ``Ensemble`` of them, (N, K, 2).
    """
    n_inputs = _feature_count(input_shape)
    if probabilistic:
        members = [_gaussian_mlp(model_cfg, n_inputs) for _ in range(model_cfg.ensemble)]
        return members[0] if len(members) == 1 else Ensemble(members)
    if model_cfg.name == "mlp":
        model = MLP(n_inputs, n_outputs, model_cfg.hidden, model_cfg.activation,
                    model_cfg.leaky_relu_slope, model_cfg.dropout, model_cfg.batch_norm,
                    model_cfg.input_noise)
    else:
        model_class = _import_module_class(model_cfg.name)
        try:
            model = model_class(n_inputs=n_inputs, n_outputs=n_outputs, **model_cfg.kwargs)
        except TypeError as err:
            raise UserError(f"model.name '{model_cfg.name}' could not be built with "
                            f"n_inputs, n_outputs and model.kwargs {model_cfg.kwargs}: {err}. "
                            "Its __init__ must accept those keyword arguments.") from None
    initialize_weights(model, model_cfg.init, model_cfg.activation)
    return model


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
