"""Every config key, declared once: its type, its default and what it means.

The YAML file mirrors these classes section by section. Unknown keys are errors (the loader
adds a "did you mean" suggestion), and cross-field rules live in validators here so the whole
config is checked before any data is read.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, ValidationInfo, field_validator,
                      model_validator)

from trainwise.config.streaming import StreamingConfig

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
CLASSIFICATION_LOSSES = ("cross_entropy", "focal", "dice", "tversky", "topk")
# Probabilistic regression: per-measurement targets (gaussian_nll, beta_nll) or per-site
# Normals from data.group_by (kl).
PROBABILISTIC_LOSSES = ("gaussian_nll", "beta_nll", "kl")
LOSSES_BY_TASK = {"regression": REGRESSION_LOSSES, "classification": CLASSIFICATION_LOSSES,
                  "probabilistic_regression": PROBABILISTIC_LOSSES}
# The task.* parameters each loss reads. Setting one away from its default while no chosen
# loss reads it is an error: it would silently do nothing.
LOSS_PARAMETERS = {
    "huber_delta": ("huber",),
    "label_smoothing": ("cross_entropy", "focal", "topk"),
    "focal_gamma": ("focal",),
    "focal_alpha": ("focal",),
    "tversky_alpha": ("tversky",),
    "tversky_beta": ("tversky",),
    "dice_smooth": ("dice", "tversky"),
    "topk_fraction": ("topk",),
    "beta": ("beta_nll",),
    "kl_samples": ("kl",),
    "kl_symmetric": ("kl",),
}
# Epoch schedules step once per epoch; the rest (warmup, warmup_cosine, cyclic, one_cycle)
# after every optimizer step (see training/schedules.py).
SCHEDULERS = ("none", "step", "multistep", "exponential", "cosine", "plateau", "warmup",
              "warmup_cosine", "cyclic", "one_cycle")


class Section(BaseModel):
    """Base for every section: unknown keys are errors, assignments are re-validated, and no
    number may be NaN or infinite (``.nan``, ``.inf``, ``1e999``): no setting means either."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


# The data.split keys and the methods that read them. A key set away from its default under a
# method that does not read it is an error: it would silently do nothing. The first four
# methods' own keys are checked only under the spatial methods, so their configs load as before.
SPLIT_PARAMETERS = {
    "val": ("random", "group", "spatial_blocks", "group_kfold"),
    "test": ("random", "group"),
    "stratify": ("random",),
    "group_column": ("group", "group_kfold"),
    "val_file": ("files",),
    "test_file": ("files",),
    "val_boxes": ("boxes",),
    "test_boxes": ("boxes",),
    "train_boxes": ("boxes",),
    "block_size": ("spatial_blocks",),
    "folds": ("spatial_blocks", "group_kfold"),
    "fold": ("spatial_blocks", "group_kfold"),
}
STRICT_SPLITS = ("boxes", "spatial_blocks", "group_kfold")  # the later ones: strict checks
FOLD_SPLITS = ("spatial_blocks", "group_kfold")  # k-fold: data.split.fold picks the test fold
Box = tuple[float, float, float, float]  # [lon_min, lat_min, lon_max, lat_max]


class SplitConfig(Section):
    # How rows become train/val/test: random, group, files, none, boxes, spatial_blocks,
    # group_kfold (see docs/spatial_splits.md).
    method: Literal["random", "group", "files", "none", "boxes", "spatial_blocks",
                    "group_kfold"] = "random"
    val: float = Field(0.2, ge=0.0, lt=1.0)  # fraction of rows for validation (random, group, folds)
    test: float = Field(0.2, ge=0.0, lt=1.0)  # fraction of rows for the test split (random, group)
    stratify: bool | None = None  # keep class ratios per split; None = yes for classification
    group_column: str | None = None  # rows sharing a value never cross splits (group, group_kfold)
    val_file: str | None = None  # CSV/Parquet validation rows (method: files)
    test_file: str | None = None  # CSV/Parquet test rows (method: files, optional)
    seed: int | None = None  # split seed; None = train.seed
    lon_column: str = "lon"  # longitude (x) column: boxes, spatial_blocks, the distance check
    lat_column: str = "lat"  # latitude (y) column: boxes, spatial_blocks, the distance check
    # boxes: rows with lon_min <= lon < lon_max and lat_min <= lat < lat_max. Test boxes take
    # precedence over validation boxes; the rest trains. An empty list: no such split.
    val_boxes: list[Box] = []
    test_boxes: list[Box] = []
    train_boxes: list[Box] = []  # boxes: train on rows in these only (others dropped); [] = all
    block_size: float | None = Field(None, gt=0.0)  # spatial_blocks: block side, coordinate units
    folds: int = Field(5, ge=2)  # spatial_blocks, group_kfold: k, the number of folds
    fold: int = Field(0, ge=0)  # spatial_blocks, group_kfold: the test fold, 0 to folds - 1
    # Warn when a test row lies closer than this (great-circle km) to a training row; 0 records
    # the distances without warning; None skips the check. Needs lon/lat in degrees.
    min_test_distance_km: float | None = Field(10.0, ge=0.0)

    @field_validator("val_boxes", "test_boxes", "train_boxes", mode="before")
    @classmethod
    def _one_box_is_a_list(cls, boxes: Any) -> Any:
        flat = isinstance(boxes, (list, tuple)) and len(boxes) == 4
        return [boxes] if flat and all(isinstance(v, (int, float)) for v in boxes) else boxes

    @field_validator("val_boxes", "test_boxes", "train_boxes")
    @classmethod
    def _ordered_boxes(cls, boxes: list[Box], info: ValidationInfo) -> list[Box]:
        for index, (lon_min, lat_min, lon_max, lat_max) in enumerate(boxes):
            where = f"{info.field_name}[{index}] = {[lon_min, lat_min, lon_max, lat_max]}"
            if lon_min >= lon_max or lat_min >= lat_max:
                raise ValueError(f"{where}: each min must be below its max; a box is "
                                 "[lon_min, lat_min, lon_max, lat_max]")
            if not -90.0 <= lat_min < lat_max <= 90.0:
                raise ValueError(f"{where}: latitudes must lie within -90..90; a box is "
                                 "[lon_min, lat_min, lon_max, lat_max] (longitude first)")
        return boxes

    @model_validator(mode="after")
    def _check_method_fields(self) -> SplitConfig:
        if self.method in ("random", "group") and self.val + self.test >= 1.0:
            raise ValueError(
                f"val ({self.val}) + test ({self.test}) must leave rows for training "
                "(their sum must be below 1); lower one of them"
            )
        if self.method in ("group", "group_kfold") and not self.group_column:
            raise ValueError(f"method '{self.method}' needs group_column: the column whose "
                             "values must not cross splits")
        if self.method == "files" and not self.val_file:
            raise ValueError("method 'files' needs val_file: a CSV or Parquet file of "
                             "validation rows")
        if self.method == "boxes" and not (self.val_boxes or self.test_boxes):
            raise ValueError("method 'boxes' needs test_boxes and/or val_boxes: lists of "
                             "[lon_min, lat_min, lon_max, lat_max]")
        if self.method == "spatial_blocks" and self.block_size is None:
            raise ValueError("method 'spatial_blocks' needs block_size: the side of a square "
                             "block in coordinate units (degrees for lon/lat)")
        if self.method in FOLD_SPLITS:
            self._check_folds()
        self._check_unused_keys()
        return self

    def _check_folds(self) -> None:
        if self.fold >= self.folds:
            raise ValueError(f"fold {self.fold} does not exist among folds {self.folds} "
                             f"(they count from 0 to {self.folds - 1}); lower fold")
        if self.val + 1.0 / self.folds >= 1.0:
            raise ValueError(f"val ({self.val}) + one test fold (1/{self.folds}) must leave "
                             "rows for training; lower val or raise folds")

    def _check_unused_keys(self) -> None:
        for key, readers in SPLIT_PARAMETERS.items():
            strict = self.method in STRICT_SPLITS or set(readers) <= set(STRICT_SPLITS)
            changed = getattr(self, key) != type(self).model_fields[key].default
            if strict and changed and self.method not in readers:
                raise ValueError(f"{key} applies to method {' or '.join(readers)} only, which "
                                 f"method '{self.method}' is not; remove {key}")


class DataConfig(Section):
    source: str  # a CSV or Parquet path (relative to the config file) or a bundled dataset name
    target: str  # the column to predict
    features: list[str] | None = None  # input columns; None = all columns but target and drop
    drop: list[str] = []  # columns to ignore (ids, free text)
    categorical: list[str] = []  # columns to one-hot encode; text columns are detected anyway
    na_values: list[str] = []  # extra strings that mean "missing" (the original Auto MPG uses '?')
    missing: Literal["impute", "drop"] = "impute"  # missing inputs: median/most frequent, or drop rows
    # Rows with an empty target: stop, drop them, or keep them aside for train.pseudo_label.
    target_missing: Literal["error", "drop", "unlabelled"] = "error"
    # Predict/evaluate rows with a category training never saw (encoded as all zeros): warn or stop.
    unseen_categories: Literal["warn", "error"] = "warn"
    scale_target: bool = True  # standardise a regression target (predictions are un-scaled)
    # Class balancing of the training rows (classification): none; oversample or undersample
    # (a fresh draw every epoch); smote (synthetic minority rows, added once to train only).
    balance: Literal["none", "oversample", "undersample", "smote"] = "none"
    smote_neighbors: int = Field(5, ge=1)  # smote: nearest same-class rows to interpolate with
    # probabilistic_regression: aggregate measurement rows into one row per site (these
    # columns identify it) with the target's mean, variance (ddof=1) and count.
    group_by: list[str] = []
    # group_by: sites with fewer measurements are dropped (one has no variance); at least 2.
    min_site_count: int = Field(2, ge=2)
    # group_by: the site variance's delta degrees of freedom. 1 (the lab's) is the unbiased
    # sample variance; 0 makes the KL's optimum the unbiased measurement variance, because the
    # squared error of a site mean adds sigma^2/n back (docs/uncertainty.md).
    site_variance_ddof: Literal[0, 1] = 1
    split: SplitConfig = SplitConfig()
    # Stream training rows from a large Parquet file in bounded memory (docs/large_data.md).
    streaming: StreamingConfig = StreamingConfig()


class TaskConfig(Section):
    # What the target is. probabilistic_regression predicts a Normal (mean, variance) per row.
    type: Literal["regression", "classification", "probabilistic_regression"] = "regression"
    # A loss name (mse, mae, huber | cross_entropy, focal, dice, tversky, topk |
    # gaussian_nll, beta_nll, kl), or a mapping {name: weight, ...} whose weighted sum is the
    # loss; None = mse, cross_entropy, or gaussian_nll (kl with data.group_by).
    loss: str | dict[str, float] | None = None
    huber_delta: float = Field(1.0, gt=0)  # where huber turns from squared to linear
    # Class weights for every classification loss (training and validation loss alike).
    class_weights: Literal["balanced"] | list[float] | dict[str, float] | None = None
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)  # cross_entropy, focal, topk smoothing
    focal_gamma: float = Field(2.0, ge=0.0)  # focal: rows weigh (1 - p_true)^gamma; 0 = CE
    # focal: per-class factors (list or {class: factor}), or one number a in (0, 1) for two
    # classes: 1 - a for the first class, a for the second (the paper's alpha); None = 1.
    focal_alpha: float | list[float] | dict[str, float] | None = None
    tversky_alpha: float = Field(0.3, ge=0.0)  # tversky: weight of soft false positives
    tversky_beta: float = Field(0.7, ge=0.0)  # tversky: weight of soft false negatives (recall)
    dice_smooth: float = Field(1.0, ge=0.0)  # dice, tversky: added to the ratio's both sides
    topk_fraction: float = Field(0.5, gt=0.0, le=1.0)  # topk: share of hardest rows averaged
    beta: float = Field(0.5, ge=0.0, le=1.0)  # beta_nll: rows weigh variance^beta (0 = NLL)
    # kl: reparameterised draws per row while training (the TimberID lab used 15); 0 = the
    # exact closed form. Draws bias the loss upward (docs/uncertainty.md); validation and
    # evaluation always use the closed form.
    kl_samples: int = Field(0, ge=0)
    kl_symmetric: bool = False  # kl: add the reverse KL(predicted || real)
    # probabilistic_regression: forward passes with dropout on at evaluation and prediction
    # (MC dropout, combined as a mixture); 0 = off. Needs model.dropout > 0.
    mc_dropout: int = Field(0, ge=0)
    # probabilistic_regression: also fit a Gaussian-process (kriging) baseline on the same
    # split and score it beside the network (metrics.json "gp_baseline"); O(N³), so opt-in.
    gp_baseline: bool = False

    @field_validator("kl_samples")
    @classmethod
    def _enough_draws(cls, samples: int) -> int:
        if samples == 1:
            raise ValueError("kl_samples: 1 draw has no variance (it uses ddof=1); give 0 for "
                             "the closed form or 2 or more draws")
        return samples

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, loss: str | dict[str, float] | None,
                    info: ValidationInfo) -> str | dict[str, float] | None:
        # Here, not only in _check_loss, so the error names task.loss (type is validated first);
        # _check_loss still catches a later assignment to task.type.
        task = info.data.get("type")
        if loss is not None and task is not None:
            _check_loss_names(loss, task)
        return loss

    @field_validator("focal_alpha")
    @classmethod
    def _focal_alpha_range(cls, alpha):
        if isinstance(alpha, float) and not 0.0 < alpha < 1.0:
            raise ValueError(f"a single focal_alpha ({alpha}) is the second class's share and "
                             "must lie strictly between 0 and 1; or give one factor per class")
        factors = alpha.values() if isinstance(alpha, dict) else alpha
        if isinstance(factors, list) or isinstance(alpha, dict):
            if any(factor < 0 for factor in factors):
                raise ValueError("focal_alpha factors must be 0 or more; fix the negative ones")
        return alpha

    @model_validator(mode="after")
    def _check_loss(self) -> TaskConfig:
        if self.type != "classification" and (self.class_weights or self.label_smoothing):
            raise ValueError("class_weights and label_smoothing apply to classification only")
        for key in ("mc_dropout", "gp_baseline"):
            if getattr(self, key) and self.type != "probabilistic_regression":
                raise ValueError(f"task.{key} applies to task.type: probabilistic_regression "
                                 "only; remove it or change the task")
        if self.loss is None and self.type == "probabilistic_regression":
            # Its default depends on data.group_by: Config._check_probabilistic sets it.
            return self
        if self.loss is None:
            self.__dict__["loss"] = LOSSES_BY_TASK[self.type][0]
        else:
            _check_loss_names(self.loss, self.type)
        self._check_unused_parameters()
        return self

    def _check_unused_parameters(self) -> None:
        """A loss parameter set away from its default, but read by none of the chosen losses."""
        chosen = set(self.loss) if isinstance(self.loss, dict) else {self.loss}
        for key, readers in LOSS_PARAMETERS.items():
            changed = getattr(self, key) != type(self).model_fields[key].default
            if changed and not chosen & set(readers):
                raise ValueError(f"task.{key} applies to loss {' or '.join(readers)} only, "
                                 f"which task.loss ({self.loss}) does not use; remove "
                                 f"task.{key} or add {readers[0]} to task.loss")


class ModelConfig(Section):
    name: str = "mlp"  # 'mlp', or 'package.module:ClassName' for your own nn.Module
    hidden: list[int] = [64, 64]  # hidden layer sizes of the mlp
    activation: str = "relu"  # relu, leaky_relu, elu, gelu, tanh, selu, sigmoid
    leaky_relu_slope: float = Field(0.01, ge=0.0)  # negative slope for leaky_relu
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # dropout after each hidden activation
    batch_norm: bool = False  # batch norm after each hidden linear layer
    # Weight initialisation (default = PyTorch's, xavier/glorot, kaiming/he, orthogonal);
    # left out, probabilistic_regression uses xavier_normal (the TimberID lab's choice).
    init: str = "default"
    l1: float = Field(0.0, ge=0.0)  # L1 penalty on weights, added to the loss
    l2: float = Field(0.0, ge=0.0)  # L2 strength on weights
    l2_as: Literal["penalty", "weight_decay"] = "penalty"  # Keras-style loss term, or decay
    kwargs: dict[str, Any] = {}  # keyword arguments for your own nn.Module
    init_from: str | None = None  # run directory whose final weights start this run (fine-tune)
    init_from_strict: bool = True  # every tensor must fit (else an error); false: load what fits
    freeze: list[str] = []  # parameter name patterns (fnmatch, e.g. 'layers.0.*') that don't train
    unfreeze: dict[int, list[str]] = {}  # {epoch: patterns}: frozen ones train from that epoch on
    input_noise: float = Field(0.0, ge=0.0)  # mlp: std of noise added to inputs in training; 0 off
    min_variance: float = Field(1e-6, gt=0.0)  # probabilistic_regression: variance floor (scaled)
    # probabilistic_regression: members of a deep ensemble (independent inits, trained side by
    # side, combined as a mixture); 1 = a single network.
    ensemble: int = Field(1, ge=1)

    @field_validator("freeze", mode="before")
    @classmethod
    def _one_pattern_is_a_list(cls, patterns: Any) -> Any:
        return [patterns] if isinstance(patterns, str) else patterns

    @field_validator("unfreeze", mode="before")
    @classmethod
    def _one_pattern_per_epoch_is_a_list(cls, schedule: Any) -> Any:
        if not isinstance(schedule, dict):
            return schedule
        return {epoch: [patterns] if isinstance(patterns, str) else patterns
                for epoch, patterns in schedule.items()}

    @field_validator("unfreeze")
    @classmethod
    def _unfreeze_epochs(cls, schedule: dict[int, list[str]]) -> dict[int, list[str]]:
        early = sorted(epoch for epoch in schedule if epoch < 2)
        if early:
            raise ValueError(f"epochs {early}: epochs count from 1, and unfreezing in epoch 1 "
                             "is not freezing at all; remove those patterns from model.freeze "
                             "instead, or give an epoch of 2 or more")
        empty = sorted(epoch for epoch, patterns in schedule.items() if not patterns)
        if empty:
            raise ValueError(f"epochs {empty} list no patterns; give the parameters to "
                             "unfreeze, e.g. {10: ['layers.2.*']}, or remove the epoch")
        return schedule

    @model_validator(mode="after")
    def _check_transfer_options(self) -> ModelConfig:
        if self.unfreeze and not self.freeze:
            raise ValueError("model.unfreeze needs model.freeze: nothing is frozen, so nothing "
                             "can be unfrozen; list the parameters to freeze first")
        if self.input_noise and self.name != "mlp":
            raise ValueError("model.input_noise applies to the built-in mlp only; add a "
                             "trainwise.models.noise.GaussianNoise layer to your own module "
                             "instead, and set model.input_noise: 0")
        return self

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
    # Per epoch: none, step, multistep, exponential, cosine, plateau.
    # Per optimizer step: warmup, warmup_cosine, cyclic, one_cycle.
    name: str = "none"
    step_size: int = Field(10, ge=1)  # step: epochs between decays
    milestones: list[int] = []  # multistep: epochs at which to decay
    gamma: float = Field(0.1, gt=0.0)  # step, multistep, exponential: decay factor
    t_max: int | None = Field(None, ge=1)  # cosine, warmup_cosine, one_cycle: epochs (None: all)
    min_lr: float = Field(0.0, ge=0.0)  # cosine, warmup_cosine, plateau: the floor
    factor: float = Field(0.1, gt=0.0, lt=1.0)  # plateau: multiply lr by this
    patience: int = Field(5, ge=0)  # plateau: epochs without improvement before decaying
    warmup_epochs: float | None = Field(None, gt=0.0)  # warmup(_cosine): ramp to train.lr, epochs
    warmup_steps: int | None = Field(None, ge=1)  # ...or optimizer steps (give one of the two)
    base_lr: float | None = Field(None, gt=0.0)  # cyclic: bottom of each cycle; None = train.lr
    max_lr: float | None = Field(None, gt=0.0)  # cyclic: the top; one_cycle: peak (None = train.lr)
    step_size_up: int | None = Field(None, ge=1)  # cyclic: steps from base to max; None = 2 epochs
    step_size_down: int | None = Field(None, ge=1)  # cyclic: steps back down; None = step_size_up
    # cyclic: triangular; triangular2 halves the amplitude each cycle; exp_range shrinks it per step
    cycle_mode: Literal["triangular", "triangular2", "exp_range"] = "triangular"
    cycle_gamma: float = Field(1.0, gt=0.0, le=1.0)  # cyclic exp_range: amplitude x this per step
    pct_start: float = Field(0.3, gt=0.0, lt=1.0)  # one_cycle: share of steps rising to max_lr
    div_factor: float = Field(25.0, ge=1.0)  # one_cycle: starts at max_lr / div_factor
    final_div_factor: float = Field(1e4, ge=1.0)  # one_cycle: ends at the start rate / this
    cycle_momentum: bool = False  # cyclic, one_cycle: cycle momentum inversely (sgd, rmsprop)
    base_momentum: float = Field(0.85, ge=0.0, lt=1.0)  # ...down to this at peak lr (from momentum)

    @field_validator("name")
    @classmethod
    def _known_scheduler(cls, name: str) -> str:
        return _one_of(name, SCHEDULERS, "scheduler")

    @model_validator(mode="after")
    def _check_schedule_fields(self) -> SchedulerConfig:
        if self.name in ("warmup", "warmup_cosine") and (self.warmup_epochs is None) == (
                self.warmup_steps is None):
            raise ValueError(f"scheduler '{self.name}' needs exactly one of warmup_epochs or "
                             "warmup_steps: how long the linear ramp to train.lr lasts")
        if self.name == "cyclic" and self.max_lr is None:
            raise ValueError("scheduler 'cyclic' needs max_lr: the top of each cycle (the "
                             "bottom, base_lr, defaults to train.lr)")
        return self


class EarlyStoppingConfig(Section):
    enabled: bool = True  # stop when the monitored value stops improving
    monitor: str = "val_loss"  # a history key; falls back to 'loss' when there is no validation
    mode: Literal["auto", "min", "max"] = "auto"  # auto: max for accuracy/f1/r2, else min
    patience: int = Field(20, ge=0)  # epochs without improvement before stopping
    min_delta: float = Field(0.0, ge=0.0)  # smallest change that counts as improvement
    restore_best: bool = True  # end with the best epoch's weights, not the last
    min_epochs: int = Field(0, ge=0)  # never stop before this many epochs


class LRFinderConfig(Section):
    start_lr: float = Field(1e-7, gt=0.0)  # the range test ramps the rate from here...
    end_lr: float = Field(10.0, gt=0.0)  # ...to here, exponentially
    steps: int = Field(100, ge=10)  # at most this many optimizer steps
    rule: Literal["valley", "steepest", "min_over_10"] = "valley"  # which suggestion train.lr: auto uses

    @model_validator(mode="after")
    def _check_range(self) -> LRFinderConfig:
        if self.end_lr <= self.start_lr:
            raise ValueError(f"end_lr ({self.end_lr}) must be above start_lr ({self.start_lr})")
        return self


class CheckpointConfig(Section):
    save_best: bool = True  # keep checkpoints/best.pt at the best monitored value
    save_last: bool = True  # keep checkpoints/last.pt (needed to resume)
    # last.pt and best.pt are rewritten at most this often (and always after the final epoch,
    # on stop or interrupt; the best weights wait in memory): a crash loses at most these
    # seconds of training; 0 = after every epoch.
    last_every_s: float = Field(1.0, ge=0.0)


class PseudoLabelConfig(Section):
    enabled: bool = False  # train on the model's own labels for rows with an empty target too
    warmup_epochs: int = Field(10, ge=1)  # epochs on the labelled rows before the first round
    every_epochs: int = Field(10, ge=1)  # epochs per round: relabel every this many epochs
    rounds: int = Field(3, ge=1)  # labellings in all; the last round's labels stay to the end
    threshold: float = Field(0.9, ge=0.0, le=1.0)  # keep rows whose top softmax prob. is >= this
    weight: float = Field(0.5, gt=0.0)  # loss weight of a pseudo-labelled row (labelled: 1)


class ParamGroupConfig(Section):
    params: list[str]  # parameter name patterns (fnmatch, e.g. 'layers.0.*') in this group
    lr: float = Field(gt=0.0)  # this group's learning rate (unmatched parameters: train.lr)

    @field_validator("params", mode="before")
    @classmethod
    def _one_pattern_is_a_list(cls, patterns: Any) -> Any:
        return [patterns] if isinstance(patterns, str) else patterns

    @field_validator("params")
    @classmethod
    def _some_patterns(cls, patterns: list[str]) -> list[str]:
        if not patterns:
            raise ValueError("give at least one parameter name pattern, e.g. 'layers.0.*'")
        return patterns


class TrainConfig(Section):
    optimizer: str = "adam"  # sgd, adam, adamw, rmsprop, adagrad
    lr: float | Literal["auto"] = 1e-3  # learning rate, or "auto": run the LR range test first
    momentum: float = Field(0.0, ge=0.0, lt=1.0)  # sgd, rmsprop
    nesterov: bool = False  # sgd: Nesterov momentum (needs momentum > 0)
    betas: tuple[float, float] = (0.9, 0.999)  # adam, adamw
    eps: float = Field(1e-8, gt=0.0)  # adam, adamw, rmsprop, adagrad
    weight_decay: float = Field(0.0, ge=0.0)  # the optimizer's own decay (decoupled for adamw)
    param_groups: list[ParamGroupConfig] = []  # own lr by parameter name; first match wins
    batch_size: int = Field(32, ge=1)  # rows per forward pass (per optimizer step: x accumulate)
    accumulate: int = Field(1, ge=1)  # batches whose gradients add up to one optimizer step
    mixup: float = Field(0.0, ge=0.0)  # mixup alpha: lambda ~ Beta(alpha, alpha) per batch; 0 = off
    # auto: plain MLPs train by hand-derived kernels without autograd (trainwise.fused) when
    # the options allow, else autograd; the manifest says which ran and why. off: autograd.
    fused: Literal["auto", "off"] = "auto"
    epochs: int = Field(100, ge=1)  # passes over the training split
    grad_clip: float | None = Field(None, gt=0.0)  # clip the global gradient norm to this
    seed: int = 0  # seeds weights, dropout and data order
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"  # where tensors live
    deterministic: bool = False  # torch deterministic algorithms (slower on GPU)
    log_batches: bool = True  # keep each batch's loss in the history (read once per epoch)
    scheduler: SchedulerConfig = SchedulerConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    pseudo_label: PseudoLabelConfig = PseudoLabelConfig()
    lr_finder: LRFinderConfig = LRFinderConfig()

    @field_validator("lr")
    @classmethod
    def _positive_lr(cls, lr: float | str) -> float | str:
        if lr != "auto" and lr <= 0:
            raise ValueError("the learning rate must be greater than 0, or 'auto' to run the "
                             "LR range test first")
        return lr

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        return _one_of(name, OPTIMIZERS, "optimizer")

    @model_validator(mode="after")
    def _check_nesterov(self) -> TrainConfig:
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise ValueError("nesterov needs optimizer 'sgd' and momentum above 0")
        return self

    @model_validator(mode="after")
    def _check_schedule(self) -> TrainConfig:
        schedule = self.scheduler
        base_lr = schedule.base_lr or self.lr
        if schedule.name == "cyclic" and base_lr != "auto" and schedule.max_lr <= base_lr:
            raise ValueError(f"scheduler.max_lr ({schedule.max_lr}) must be above the cycle's "
                             f"bottom, scheduler.base_lr or train.lr ({base_lr}); raise max_lr")
        length = schedule.t_max or self.epochs
        if schedule.name == "warmup_cosine" and (schedule.warmup_epochs or 0) >= length:
            raise ValueError(f"scheduler.warmup_epochs ({schedule.warmup_epochs}) leaves no "
                             f"epochs for the cosine within {length}; lower it")
        if schedule.cycle_momentum and schedule.name in ("cyclic", "one_cycle"):
            if self.optimizer not in ("sgd", "rmsprop"):
                # Adam's beta1 is not momentum in the sense the cycle assumes; leave it alone.
                raise ValueError(f"scheduler.cycle_momentum needs optimizer sgd or rmsprop "
                                 f"(not {self.optimizer}); set cycle_momentum: false")
            if self.momentum <= schedule.base_momentum:
                raise ValueError(f"scheduler.cycle_momentum cycles from train.momentum "
                                 f"({self.momentum}) down to scheduler.base_momentum "
                                 f"({schedule.base_momentum}); set momentum above base_momentum")
        return self


class SweepConfig(Section):
    """Many runs from one config: ``trainwise sweep`` (or ``trainwise.sweep``) trains one run per
    grid point and seed; ``trainwise train`` ignores this block."""

    # Config paths to their values, e.g. {"train.lr": [0.01, 0.001], "model.dropout": [0, 0.2]};
    # every combination is one point.
    grid: dict[str, list] = {}
    # Repeat every point with this many seeds (train.seed, +1, +2, ...) on one data split.
    seeds: int = Field(1, ge=1)
    # auto: as one batched model when the runs differ only in what a batched model can vary
    # (learning rate, weight decay, dropout, seed), else one after another. batched: that or
    # an error saying why not. sequential / parallel: separate runs (parallel in processes).
    mode: Literal["auto", "batched", "sequential", "parallel"] = "auto"
    workers: int = Field(2, ge=1)  # processes for mode: parallel


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


def _check_loss_names(loss: str | dict[str, float], task: str) -> None:
    """Every name must exist for the task, and a mapping's weights must be above 0."""
    valid = LOSSES_BY_TASK[task]
    names = list(loss) if isinstance(loss, dict) else [loss]
    if not names:
        raise ValueError(f"an empty mapping names no loss; give a name or {{name: weight}}, "
                         f"with names from: {', '.join(valid)}")
    for name in names:
        if name not in valid:
            raise ValueError(f"loss '{name}' is not available for {task}; "
                             f"choose one of: {', '.join(valid)}")
    if isinstance(loss, dict):
        bad = {name: weight for name, weight in loss.items() if not weight > 0}
        if bad:
            raise ValueError(f"loss weights must be above 0, got {bad}; raise them or remove "
                             "those losses from the mapping")


def _one_of(name: str, valid: tuple[str, ...], what: str) -> str:
    if name not in valid:
        raise ValueError(f"unknown {what} '{name}'; choose one of: {', '.join(valid)}")
    return name
