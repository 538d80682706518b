"""Where a run's model and preprocessing start: fresh, or from another run
(``model.init_from``: all of its weights and preprocessing, or those that fit)."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from trainwise.callbacks.freeze import FreezeSchedule
from trainwise.config.schema import Config
from trainwise.data.prepare import PreparedData
from trainwise.data.preprocess import Preprocessor
from trainwise.errors import UserError
from trainwise.inputs.base import InputKind
from trainwise.run import MODEL_FILE
from trainwise.tracking.run_dir import resolve_run
from trainwise.training.checkpoint import load_weights_into
from trainwise.training.param_groups import lr_groups
from trainwise.training.transfer import load_matching_weights


def init_from(cfg: Config, runs_dir, inputs: InputKind) -> tuple[Preprocessor | None, dict | None]:
    """The preprocessing and final weights of the run named by ``model.init_from``, if any."""
    if not cfg.model.init_from:
        return None, None
    source = resolve_run(cfg.model.init_from, runs_dir)
    # Recorded resolved, like data paths: 'last' or an id prefix names another run tomorrow.
    cfg.model.init_from = str(source.path.resolve())
    weights_path = source.file(MODEL_FILE)
    if not weights_path.is_file():
        raise UserError(f"model.init_from: run '{source.path}' has no {MODEL_FILE} (it has not "
                        "finished); resume it first, or pick a finished run.")
    try:
        weights = load_file(weights_path)
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise UserError(f"model.init_from: '{weights_path}' is corrupt or truncated ({err}).") from None
    return inputs.load_preprocessing(source.read_json("preprocessing.json")), weights


def prepare_run_data(cfg: Config, source_prep: Preprocessor | None,
                     inputs: InputKind) -> PreparedData:
    """The input kind's ``prepare``, reusing ``model.init_from``'s preprocessing as asked.

    Strict (fine-tuning) reuses all of it; partial (transfer learning) only the input side,
    since the target or its classes may be new. A data error in strict mode says so, because
    "classes never seen in training" then means the source run's classes.
    """
    strict = cfg.model.init_from_strict
    try:
        return inputs.prepare(cfg, source_prep, refit_target=not strict)
    except UserError as err:
        if source_prep is None or not strict:
            raise
        raise UserError(f"{err} (model.init_from reuses that run's preprocessing, its classes "
                        "and target scaling included; to train on a new target or new "
                        "classes, set model.init_from_strict: false.)") from None


def load_init_weights(model: torch.nn.Module, weights: dict, cfg: Config) -> dict:
    """Start ``model`` from ``model.init_from``'s weights: all of them, or those that fit.

    Args:
        model: the freshly built model.
        weights: the source run's final weights.
        cfg: the config (``model.init_from``, ``model.init_from_strict``).

    Returns:
        The report saved as ``init_from.json``: source, strict, loaded names, skipped names
        with the reason for each.

    Raises:
        UserError: strict and a tensor does not fit, or partial and none fits.
    """
    source = f"model.init_from '{cfg.model.init_from}'"
    if cfg.model.init_from_strict:
        try:
            load_weights_into(model, weights, source)
        except UserError as err:
            raise UserError(f"{err} Or, to load only the tensors that fit (transfer learning), "
                            "set model.init_from_strict: false.") from None
        outcome = {"loaded": list(model.state_dict()), "skipped": []}
    else:
        outcome = load_matching_weights(model, weights)
        if not outcome["loaded"]:
            raise UserError(f"{source}: no tensor of that run fits this model (names or "
                            f"shapes all differ, e.g. {outcome['skipped'][0]['name']}: "
                            f"{outcome['skipped'][0]['reason']}); start from a run with the "
                            "same kind of model, or remove model.init_from.")
    return {"source": cfg.model.init_from, "strict": cfg.model.init_from_strict, **outcome}


def check_parameter_patterns(model: torch.nn.Module, cfg: Config) -> None:
    """Check ``model.freeze``/``unfreeze`` and ``train.param_groups`` against the model.

    Here, before the run directory exists, so a typo leaves nothing behind. The first epoch's
    freezing is applied now so the model summary counts trainable parameters right.
    """
    schedule = FreezeSchedule.from_config(model, cfg.model)
    if schedule is not None:
        schedule.apply(epoch=1)
    lr_groups(model, cfg.train)
