"""Where a run's model and preprocessing start: fresh, or from another run
(``model.init_from``: all of its weights and preprocessing, or those that fit)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from trainwise.callbacks.freeze import FreezeSchedule
from trainwise.config.schema import Config
from trainwise.data.prepare import PreparedData
from trainwise.data.preprocess import Preprocessor
from trainwise.errors import UserError
from trainwise.inputs.base import InputKind
from trainwise.inputs.raster.scene import open_scene
from trainwise.run import MODEL_FILE
from trainwise.tracking.run_dir import RunDirectory, resolve_run
from trainwise.training.band_transfer import adapt_first_conv
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

    Partial loading of a raster model from a run on other bands (or the same bands in
    another order) adapts the first convolution's weight to this run's bands
    (``adapt_band_weights``) instead of skipping it.

    Returns:
        The report saved as ``init_from.json``: source, strict, loaded names, skipped names
        with the reason for each, and ``first_conv`` when the first convolution was adapted.

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
        weights, first_conv = adapt_band_weights(model, weights, cfg)
        outcome = load_matching_weights(model, weights)
        if first_conv is not None:
            outcome["first_conv"] = first_conv
        if not outcome["loaded"]:
            raise UserError(f"{source}: no tensor of that run fits this model (names or "
                            f"shapes all differ, e.g. {outcome['skipped'][0]['name']}: "
                            f"{outcome['skipped'][0]['reason']}); start from a run with the "
                            "same kind of model, or remove model.init_from.")
    return {"source": cfg.model.init_from, "strict": cfg.model.init_from_strict, **outcome}


def adapt_band_weights(model: torch.nn.Module, weights: dict,
                       cfg: Config) -> tuple[dict, dict | None]:
    """The source's weights with the first convolution's adapted to this run's bands.

    Applies to a raster run whose model reads the bands with ``model.first_conv`` (the
    unet), started from a raster run whose band names (``preprocessing.json``) differ from
    this scene's, or with ``model.band_map``.

    Returns:
        ``(weights, section)``: a copy of ``weights`` with the adapted tensor, and the
        ``first_conv`` section of the report (``name``, ``from_bands``, ``to_bands``,
        ``bands``); ``(weights, None)`` when nothing needs adapting.

    Raises:
        UserError: ``model.band_map`` set where there is no first convolution or source
            bands to map, or naming unknown bands.
    """
    band_map = cfg.model.band_map
    conv = getattr(model, "first_conv", None)
    source_bands = _source_band_names(cfg) if cfg.data.kind == "raster" else None
    if conv is None or source_bands is None:
        if band_map:
            raise UserError("model.band_map applies to a raster run (data.kind: raster) with a "
                            "model that reads the bands with a first convolution (model.name: "
                            "unet), started from another raster run; remove model.band_map")
        return weights, None
    name = next(key for key, parameter in model.named_parameters()
                if parameter is conv.weight)
    source = weights.get(name)
    target_bands = _scene_band_names(cfg)
    if source is None or source.dim() != conv.weight.dim() \
            or source.shape[0] != conv.weight.shape[0] \
            or source.shape[2:] != conv.weight.shape[2:] \
            or source.shape[1] != len(source_bands) \
            or (source_bands == target_bands and not band_map):
        # Other filters or kernels (skipped with that reason), or the same bands: as is.
        return weights, None
    adapted, bands = adapt_first_conv(source, source_bands, target_bands, band_map)
    section = {"name": name, "from_bands": source_bands, "to_bands": target_bands,
               "bands": bands}
    return {**weights, name: adapted}, section


def _source_band_names(cfg: Config) -> list[str] | None:
    """The band names in ``model.init_from``'s preprocessing.json (None: not a raster run)."""
    saved = RunDirectory(Path(cfg.model.init_from)).read_json("preprocessing.json")
    names = saved.get("band_names")
    return list(names) if names else None


def _scene_band_names(cfg: Config) -> list[str]:
    """This run's band names, as its preprocessing records them: the scene's."""
    scene = open_scene(cfg.data.source, "data.source", cfg.data.raster.nodata)
    try:
        return scene.band_names
    finally:
        scene.close()


def check_parameter_patterns(model: torch.nn.Module, cfg: Config) -> None:
    """Check ``model.freeze``/``unfreeze`` and ``train.param_groups`` against the model.

    Here, before the run directory exists, so a typo leaves nothing behind. The first epoch's
    freezing is applied now so the model summary counts trainable parameters right.
    """
    schedule = FreezeSchedule.from_config(model, cfg.model)
    if schedule is not None:
        schedule.apply(epoch=1)
    lr_groups(model, cfg.train)
