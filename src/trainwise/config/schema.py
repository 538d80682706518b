"""Every config key, declared once: its type, its default and what it means.

The YAML file mirrors these classes section by section. Each section lives in its own module
(``data``, ``task``, ``model``, ``train``, ``sweep``, ``streaming``, ``runs``, all built on
``section.Section``); this module holds the root ``Config``, whose validators carry the rules
that cross sections, and re-exports every section class and name list, so
``from trainwise.config.schema import X`` works for all of them. Unknown keys are errors (the
loader adds a "did you mean" suggestion), and cross-field rules live in validators so the
whole config is checked before any data is read.
"""

from __future__ import annotations

from pydantic import model_validator

from trainwise.config.data import (FOLD_SPLITS, SPLIT_PARAMETERS, STRICT_SPLITS, Box, DataConfig,
                                   SplitConfig)
from trainwise.config.model import ACTIVATIONS, INITS, MODELS, ModelConfig
from trainwise.config.runs import RunsConfig
from trainwise.config.section import Section
from trainwise.config.streaming import StreamingConfig
from trainwise.config.sweep import SweepConfig
from trainwise.config.task import (CLASSIFICATION_LOSSES, LOSS_PARAMETERS, LOSSES_BY_TASK,
                                   PROBABILISTIC_LOSSES, REGRESSION_LOSSES, TaskConfig)
from trainwise.config.tracking import TrackingConfig
from trainwise.config.train import (OPTIMIZERS, SCHEDULERS, CheckpointConfig,
                                    EarlyStoppingConfig, LRFinderConfig, ParamGroupConfig,
                                    PseudoLabelConfig, SchedulerConfig, TrainConfig)
from trainwise.config.tune import TuneConfig

__all__ = [
    "ACTIVATIONS",
    "CLASSIFICATION_LOSSES",
    "FOLD_SPLITS",
    "INITS",
    "LOSSES_BY_TASK",
    "LOSS_PARAMETERS",
    "MODELS",
    "OPTIMIZERS",
    "PROBABILISTIC_LOSSES",
    "REGRESSION_LOSSES",
    "SCHEDULERS",
    "SPLIT_PARAMETERS",
    "STRICT_SPLITS",
    "Box",
    "CheckpointConfig",
    "Config",
    "DataConfig",
    "EarlyStoppingConfig",
    "LRFinderConfig",
    "ModelConfig",
    "ParamGroupConfig",
    "PseudoLabelConfig",
    "RunsConfig",
    "SchedulerConfig",
    "Section",
    "SplitConfig",
    "StreamingConfig",
    "SweepConfig",
    "TaskConfig",
    "TrackingConfig",
    "TrainConfig",
]


class Config(Section):
    """A whole training run, as written in one YAML file.

    Example:
        >>> cfg = Config(data={"source": "auto_mpg", "target": "mpg"})
        >>> cfg.train.lr, cfg.model.hidden
        (0.001, [64, 64])
    """

    name: str = "run"  # a label for the run, shown in `trainwise runs`
    data: DataConfig
    task: TaskConfig = TaskConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    sweep: SweepConfig | None = None  # see SweepConfig
    runs: RunsConfig = RunsConfig()  # where the run is recorded (the run store)
    tracking: TrackingConfig = TrackingConfig()  # TensorBoard, MLflow, progress lines
    tune: TuneConfig | None = None  # see config/tune.py (trainwise tune); train ignores it

    @model_validator(mode="after")
    def _check_classification_split(self) -> Config:
        if self.data.split.method == "none" and self.train.early_stopping.monitor.startswith("val_"):
            # Without validation the only honest thing to watch is the training loss.
            self.train.early_stopping.__dict__["monitor"] = self.train.early_stopping.monitor[4:]
        return self

    @model_validator(mode="after")
    def _check_probabilistic(self) -> Config:
        task, data, model = self.task, self.data, self.model
        if task.type != "probabilistic_regression":
            for key, value, off in (("data.group_by", data.group_by, []),
                                    ("model.ensemble", model.ensemble, 1)):
                if value != off:
                    raise ValueError(f"{key} applies to task.type: probabilistic_regression "
                                     "only; remove it or change the task")
            return self
        if "init" not in model.model_fields_set:
            model.__dict__["init"] = "xavier_normal"
        if task.loss is None:
            task.__dict__["loss"] = "kl" if data.group_by else "gaussian_nll"
            task._check_unused_parameters()
        names = set(task.loss) if isinstance(task.loss, dict) else {task.loss}
        if data.group_by and names != {"kl"}:
            raise ValueError(f"data.group_by gives per-site Normals (mean, variance, count) as "
                             f"targets, which only task.loss: kl compares; got {task.loss}. "
                             "Set task.loss: kl, or remove data.group_by to fit measurements")
        if data.group_by and data.split.method == "files":
            raise ValueError("data.group_by cannot be combined with data.split.method: files "
                             "yet; put every measurement in data.source and split by sites "
                             "(method: random, group or a spatial method)")
        if "kl" in names and not data.group_by:
            raise ValueError("task.loss: kl compares predicted Normals with per-site Normals; "
                             "set data.group_by to the columns naming a site (e.g. [code, lat, "
                             "lon]), or use gaussian_nll / beta_nll on measurements")
        if task.mc_dropout and model.dropout == 0:
            raise ValueError(f"task.mc_dropout: {task.mc_dropout} needs model.dropout above 0; "
                             "set model.dropout (e.g. 0.1) or task.mc_dropout: 0")
        if data.kind != "tabular":
            raise ValueError(f"task.type: probabilistic_regression reads tables; data.kind: "
                             f"{data.kind} trains classification (or regression on numeric "
                             "labels). Set task.type: classification")
        if model.name != "mlp":
            raise ValueError("task.type: probabilistic_regression uses the built-in mlp body "
                             f"with a Gaussian head; model.name '{model.name}' is not supported "
                             "yet. Set model.name: mlp")
        for key, on in (("train.mixup", self.train.mixup), ("data.balance",
                                                            data.balance != "none")):
            if on:
                # Mixing or resampling rows would mix their distributions, not their values.
                raise ValueError(f"{key} does not apply to probabilistic_regression; remove it")
        return self

    @model_validator(mode="after")
    def _check_segmentation(self) -> Config:
        """Segmentation and rasters go together, with a model that outputs a map."""
        raster, segmentation = self.data.kind == "raster", self.task.type == "segmentation"
        points = raster and bool(self.data.raster.points)
        if points and self.task.type != "classification":
            raise ValueError("data.raster.points labels whole chips: set task.type: "
                             "classification (a label raster, data.raster.labels, trains "
                             "segmentation)")
        if points and self.model.name not in ("cnn", "resnet"):
            raise ValueError(f"data.raster.points classifies whole chips; model.name "
                             f"'{self.model.name}' does not. Set model.name: cnn (with "
                             "model.layers) or resnet")
        if raster and not points and not segmentation:
            raise ValueError(f"data.kind: raster with a label raster trains task.type: "
                             f"segmentation (a class per pixel); got task.type: "
                             f"{self.task.type}. Set task.type: segmentation, or give "
                             "data.raster.points to classify chips")
        if segmentation and not raster:
            raise ValueError(f"task.type: segmentation reads rasters (data.kind: raster); got "
                             f"data.kind: {self.data.kind}. Set data.kind: raster, or use "
                             "task.type: classification")
        if segmentation and self.model.name not in ("unet", "pixel_mlp"):
            raise ValueError(f"task.type: segmentation needs a model that predicts a class per "
                             f"pixel; model.name '{self.model.name}' predicts one per sample. "
                             "Set model.name: unet (or pixel_mlp, a per-pixel yardstick)")
        if segmentation and (self.train.mixup or self.train.pseudo_label.enabled):
            raise ValueError("train.mixup and train.pseudo_label do not apply to segmentation "
                             "yet; remove them")
        return self

    @model_validator(mode="after")
    def _check_balance(self) -> Config:
        if self.data.balance != "none" and self.task.type != "classification":
            # Balancing evens out class counts; a regression target has no classes.
            raise ValueError(f"data.balance '{self.data.balance}' works for classification "
                             "only; set data.balance: none, or task.type: classification")
        return self

    @model_validator(mode="after")
    def _check_pseudo_label(self) -> Config:
        if not self.train.pseudo_label.enabled:
            return self
        if self.task.type != "classification":
            # A regression output has no confidence to filter on (no softmax probability).
            raise ValueError("train.pseudo_label works for classification only: its threshold "
                             "is a softmax probability. Set task.type: classification, or "
                             "train.pseudo_label.enabled: false")
        if "target_missing" not in self.data.model_fields_set:
            # Pseudo-labelling needs the unlabelled rows: empty targets mark them.
            self.data.__dict__["target_missing"] = "unlabelled"
        elif self.data.target_missing != "unlabelled":
            raise ValueError(f"train.pseudo_label needs the rows with an empty target, but "
                             f"data.target_missing is '{self.data.target_missing}'; set "
                             "data.target_missing: unlabelled (or leave it out)")
        if self.train.pseudo_label.warmup_epochs >= self.train.epochs:
            raise ValueError(f"train.pseudo_label.warmup_epochs "
                             f"({self.train.pseudo_label.warmup_epochs}) leaves no epoch to train "
                             f"on pseudo-labels within train.epochs ({self.train.epochs}); "
                             "lower warmup_epochs or raise train.epochs")
        if self.data.balance in ("oversample", "undersample"):
            # The sampler draws from the labelled rows only; it cannot see the pseudo rows.
            raise ValueError(f"train.pseudo_label cannot be combined with data.balance: "
                             f"{self.data.balance}; use data.balance: none, smote or class "
                             "weights (task.class_weights)")
        if self.train.scheduler.name == "one_cycle":
            # Its horizon is a step count fixed at the start; pseudo rows add steps per epoch.
            raise ValueError("train.pseudo_label adds rows, and so optimizer steps, after the "
                             "warm-up, which train.scheduler: one_cycle cannot take (its total "
                             "steps are fixed at the start); use cosine or warmup_cosine")
        return self
