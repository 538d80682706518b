"""The ``task`` section: what the target is, the loss, and which loss reads which parameter."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from trainwise.config.section import Section

REGRESSION_LOSSES = ("mse", "mae", "huber")
CLASSIFICATION_LOSSES = ("cross_entropy", "focal", "dice", "tversky", "topk")
# Probabilistic regression: per-measurement targets (gaussian_nll, beta_nll) or per-site
# Normals from data.group_by (kl).
PROBABILISTIC_LOSSES = ("gaussian_nll", "beta_nll", "kl")
# Segmentation: the classification losses per pixel (topk's hardest rows would be pixels).
SEGMENTATION_LOSSES = ("cross_entropy", "focal", "dice", "tversky")
LOSSES_BY_TASK = {"regression": REGRESSION_LOSSES, "classification": CLASSIFICATION_LOSSES,
                  "probabilistic_regression": PROBABILISTIC_LOSSES,
                  "segmentation": SEGMENTATION_LOSSES}
CLASS_TASKS = ("classification", "segmentation")  # the tasks that predict classes
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


class TaskConfig(Section):
    # What the target is. probabilistic_regression predicts a Normal (mean, variance) per row.
    # segmentation predicts a class per pixel (data.kind: raster, model.name: unet).
    type: Literal["regression", "classification", "probabilistic_regression",
                  "segmentation"] = "regression"
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
        if self.type not in CLASS_TASKS and (self.class_weights or self.label_smoothing):
            raise ValueError("class_weights and label_smoothing apply to classification and "
                             "segmentation only")
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
