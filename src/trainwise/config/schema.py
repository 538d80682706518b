"""Every config key, declared once: its type, its default and what it means.

The YAML file mirrors these classes section by section. Unknown keys are errors (the loader
adds a "did you mean" suggestion), and cross-field rules live in validators here so the whole
config is checked before any data is read.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, ValidationInfo, field_validator,
                      model_validator)

MODELS = ("mlp",)
ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "tanh", "selu", "sigmoid")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
INITS = (
    "default",
    "xavier_uniform",
    "xavier_normal",
    "glorot_uniform",
    "glorot_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "he_uniform",
    "he_normal",
    "orthogonal",
)
REGRESSION_LOSSES = ("mse", "mae", "huber")
CLASSIFICATION_LOSSES = ("cross_entropy",)
SCHEDULERS = ("none", "step", "multistep", "exponential", "cosine", "plateau")


class Section(BaseModel):
    """Base for every section: unknown keys are errors, assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SplitConfig(Section):
    method: Literal["random", "group", "files", "none"] = "random"  # how rows become train/val/test
    val: float = Field(0.2, ge=0.0, lt=1.0)  # fraction of rows for validation (random, group)
    test: float = Field(0.2, ge=0.0, lt=1.0)  # fraction of rows for the test split (random, group)
    stratify: bool | None = None  # keep class ratios per split; None = yes for classification
    group_column: str | None = None  # rows sharing a value never cross splits (method: group)
    val_file: str | None = None  # CSV/Parquet validation rows (method: files)
    test_file: str | None = None  # CSV/Parquet test rows (method: files, optional)
    seed: int | None = None  # split seed; None = train.seed

    @model_validator(mode="after")
    def _check_method_fields(self) -> SplitConfig:
        if self.method in ("random", "group") and self.val + self.test >= 1.0:
            raise ValueError(
                f"val ({self.val}) + test ({self.test}) must leave rows for training "
                "(their sum must be below 1); lower one of them"
            )
        if self.method == "group" and not self.group_column:
            raise ValueError("method 'group' needs group_column: the column whose values "
                             "must not cross splits")
        if self.method == "files" and not self.val_file:
            raise ValueError("method 'files' needs val_file: a CSV or Parquet file of "
                             "validation rows")
        return self


class DataConfig(Section):
    source: str  # a CSV or Parquet path (relative to the config file) or a bundled dataset name
    target: str  # the column to predict
    features: list[str] | None = None  # input columns; None = all columns but target and drop
    drop: list[str] = []  # columns to ignore (ids, free text)
    categorical: list[str] = []  # columns to one-hot encode; text columns are detected anyway
    na_values: list[str] = []  # extra strings that mean "missing" (the original Auto MPG uses '?')
    missing: Literal["impute", "drop"] = "impute"  # missing inputs: median/most frequent, or drop rows
    target_missing: Literal["error", "drop"] = "error"  # rows with no target: stop, or drop them
    scale_target: bool = True  # standardise a regression target (predictions are un-scaled)
    split: SplitConfig = SplitConfig()


class TaskConfig(Section):
    type: Literal["regression", "classification"] = "regression"  # what the target is
    loss: str | None = None  # mse, mae, huber | cross_entropy; None = mse or cross_entropy
    huber_delta: float = Field(1.0, gt=0)  # where huber turns from squared to linear
    class_weights: Literal["balanced"] | list[float] | dict[str, float] | None = None  # CE weights
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)  # cross-entropy label smoothing

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, loss: str | None, info: ValidationInfo) -> str | None:
        # Here, not only in _check_loss, so the error names task.loss (type is validated first);
        # _check_loss still catches a later assignment to task.type.
        task = info.data.get("type")
        valid = REGRESSION_LOSSES if task == "regression" else CLASSIFICATION_LOSSES
        if loss is not None and task is not None and loss not in valid:
            raise ValueError(f"loss '{loss}' is not available for {task}; "
                             f"choose one of: {', '.join(valid)}")
        return loss

    @model_validator(mode="after")
    def _check_loss(self) -> TaskConfig:
        valid = REGRESSION_LOSSES if self.type == "regression" else CLASSIFICATION_LOSSES
        if self.loss is None:
            self.__dict__["loss"] = valid[0]
        elif self.loss not in valid:
            raise ValueError(
                f"loss '{self.loss}' is not available for {self.type}; "
                f"choose one of: {', '.join(valid)}"
            )
        if self.type == "regression" and (self.class_weights or self.label_smoothing):
            raise ValueError("class_weights and label_smoothing apply to classification only")
        return self


class ModelConfig(Section):
    name: str = "mlp"  # 'mlp', or 'package.module:ClassName' for your own nn.Module
    hidden: list[int] = [64, 64]  # hidden layer sizes of the mlp
    activation: str = "relu"  # relu, leaky_relu, elu, gelu, tanh, selu, sigmoid
    leaky_relu_slope: float = Field(0.01, ge=0.0)  # negative slope for leaky_relu
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # dropout after each hidden activation
    batch_norm: bool = False  # batch norm after each hidden linear layer
    init: str = "default"  # weight initialisation (xavier/glorot, kaiming/he, orthogonal)
    l1: float = Field(0.0, ge=0.0)  # L1 penalty on weights, added to the loss
    l2: float = Field(0.0, ge=0.0)  # L2 strength on weights
    l2_as: Literal["penalty", "weight_decay"] = "penalty"  # Keras-style loss term, or decay
    kwargs: dict[str, Any] = {}  # keyword arguments for your own nn.Module
    init_from: str | None = None  # run directory whose final weights start this run (fine-tune)

    @field_validator("name")
    @classmethod
    def _known_model(cls, name: str) -> str:
        if name not in MODELS and ":" not in name:
            raise ValueError(f"unknown model '{name}'; choose one of: {', '.join(MODELS)}, "
                             "or give your own nn.Module as 'package.module:ClassName'")
        return name

    @field_validator("hidden")
    @classmethod
    def _positive_sizes(cls, hidden: list[int]) -> list[int]:
        bad = [size for size in hidden if size < 1]
        if bad:
            raise ValueError("hidden sizes must be at least 1; remove or raise the "
                             f"entries {bad}")
        return hidden

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, name: str) -> str:
        return _one_of(name, ACTIVATIONS, "activation")

    @field_validator("init")
    @classmethod
    def _known_init(cls, name: str) -> str:
        return _one_of(name, INITS, "initialisation")


class SchedulerConfig(Section):
    name: str = "none"  # none, step, multistep, exponential, cosine, plateau
    step_size: int = Field(10, ge=1)  # step: epochs between decays
    milestones: list[int] = []  # multistep: epochs at which to decay
    gamma: float = Field(0.1, gt=0.0)  # step, multistep, exponential: decay factor
    t_max: int | None = None  # cosine: period in epochs; None = train.epochs
    min_lr: float = Field(0.0, ge=0.0)  # cosine, plateau: the floor
    factor: float = Field(0.1, gt=0.0, lt=1.0)  # plateau: multiply lr by this
    patience: int = Field(5, ge=0)  # plateau: epochs without improvement before decaying

    @field_validator("name")
    @classmethod
    def _known_scheduler(cls, name: str) -> str:
        return _one_of(name, SCHEDULERS, "scheduler")


class EarlyStoppingConfig(Section):
    enabled: bool = True  # stop when the monitored value stops improving
    monitor: str = "val_loss"  # a history key; falls back to 'loss' when there is no validation
    mode: Literal["auto", "min", "max"] = "auto"  # auto: max for accuracy/f1/r2, else min
    patience: int = Field(20, ge=0)  # epochs without improvement before stopping
    min_delta: float = Field(0.0, ge=0.0)  # smallest change that counts as improvement
    restore_best: bool = True  # end with the best epoch's weights, not the last
    min_epochs: int = Field(0, ge=0)  # never stop before this many epochs


class CheckpointConfig(Section):
    save_best: bool = True  # keep checkpoints/best.pt at the best monitored value
    save_last: bool = True  # keep checkpoints/last.pt after every epoch (needed to resume)


class TrainConfig(Section):
    optimizer: str = "adam"  # sgd, adam, adamw, rmsprop, adagrad
    lr: float = Field(1e-3, gt=0.0)  # learning rate
    momentum: float = Field(0.0, ge=0.0, lt=1.0)  # sgd, rmsprop
    nesterov: bool = False  # sgd: Nesterov momentum (needs momentum > 0)
    betas: tuple[float, float] = (0.9, 0.999)  # adam, adamw
    eps: float = Field(1e-8, gt=0.0)  # adam, adamw, rmsprop, adagrad
    weight_decay: float = Field(0.0, ge=0.0)  # the optimizer's own decay (decoupled for adamw)
    batch_size: int = Field(32, ge=1)  # rows per optimizer step
    epochs: int = Field(100, ge=1)  # passes over the training split
    grad_clip: float | None = Field(None, gt=0.0)  # clip the global gradient norm to this
    seed: int = 0  # seeds weights, dropout and data order
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"  # where tensors live
    deterministic: bool = False  # torch deterministic algorithms (slower on GPU)
    log_batches: bool = True  # keep each batch's loss in the history (read once per epoch)
    scheduler: SchedulerConfig = SchedulerConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        return _one_of(name, OPTIMIZERS, "optimizer")

    @model_validator(mode="after")
    def _check_nesterov(self) -> TrainConfig:
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise ValueError("nesterov needs optimizer 'sgd' and momentum above 0")
        return self


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

    @model_validator(mode="after")
    def _check_classification_split(self) -> Config:
        if self.data.split.method == "none" and self.train.early_stopping.monitor.startswith("val_"):
            # Without validation the only honest thing to watch is the training loss.
            self.train.early_stopping.__dict__["monitor"] = self.train.early_stopping.monitor[4:]
        return self


def _one_of(name: str, valid: tuple[str, ...], what: str) -> str:
    if name not in valid:
        raise ValueError(f"unknown {what} '{name}'; choose one of: {', '.join(valid)}")
    return name
