"""Request bodies the dashboard accepts, validated by pydantic (unknown fields are errors).

A start request names a config in the workspace and overrides a few fields; it becomes the
CLI's own dotted overrides (``train.epochs=50 data.split.val=0.2 ...``), so a run started
from the page is exactly a run started from the shell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

PATH_LENGTH = 1000  # longest relative path accepted


class Body(BaseModel):
    # No number may be NaN or infinite (JSON's 1e999 reads as infinity): no field means either.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ValidationChoice(Body):
    # config: as the config says; random: a random (stratified) share; file: rows from a
    # CSV/Parquet file in the workspace; none: no validation.
    mode: Literal["config", "random", "file", "none"] = "config"
    fraction: float = Field(0.2, gt=0.0, lt=1.0)  # random: share of rows for validation
    file: str | None = Field(None, min_length=1, max_length=PATH_LENGTH)  # file: its path

    @model_validator(mode="after")
    def _file_for_file_mode(self) -> ValidationChoice:
        if self.mode == "file" and not self.file:
            raise ValueError("validation mode 'file' needs validation.file: a CSV or Parquet "
                             "file in the workspace")
        return self


class EarlyStoppingChoice(Body):
    enabled: bool | None = None  # None: as the config says
    patience: int | None = Field(None, ge=0, le=1_000_000)  # epochs without improvement


class StartRequest(Body):
    """Start a run: ``trainwise train CONFIG`` with the chosen fields overridden.

    Example:
        >>> StartRequest(config="examples/wine.yaml", epochs=20).overrides(None)[:2]
        ['train.log_batches=true', 'train.epochs=20']
    """

    config: str = Field(min_length=1, max_length=PATH_LENGTH)  # relative to the workspace
    epochs: int | None = Field(None, ge=1, le=1_000_000)
    lr: float | None = Field(None, gt=0.0, le=100.0)
    batch_size: int | None = Field(None, ge=1, le=100_000_000)
    validation: ValidationChoice = ValidationChoice()
    early_stopping: EarlyStoppingChoice = EarlyStoppingChoice()
    save_best: bool | None = None  # keep checkpoints/best.pt

    def overrides(self, validation_file: Path | None) -> list[str]:
        """The CLI's ``key=value`` overrides for this request.

        Args:
            validation_file: the resolved validation file (mode ``file``), else None.
        """
        # The run page draws the loss per batch.
        values: dict[str, Any] = {"train.log_batches": True}
        fields = {"train.epochs": self.epochs, "train.lr": self.lr,
                  "train.batch_size": self.batch_size,
                  "train.early_stopping.enabled": self.early_stopping.enabled,
                  "train.early_stopping.patience": self.early_stopping.patience,
                  "train.checkpoint.save_best": self.save_best}
        values.update({key: value for key, value in fields.items() if value is not None})
        values.update(self._split(validation_file))
        return [f"{key}={_yaml_scalar(value)}" for key, value in values.items()]

    def _split(self, validation_file: Path | None) -> dict[str, Any]:
        mode = self.validation.mode
        if mode == "random":
            return {"data.split.method": "random", "data.split.val": self.validation.fraction}
        if mode == "file":
            return {"data.split.method": "files", "data.split.val_file": str(validation_file)}
        if mode == "none":
            return {"data.split.method": "none"}
        return {}


class ResumeRequest(Body):
    """Resume a run exactly, as ``trainwise resume RUN [--epochs N]``."""

    epochs: int | None = Field(None, ge=1, le=1_000_000)  # new total; None: the run's own


def _yaml_scalar(value: Any) -> str:
    """A value as YAML reads it back (overrides are parsed as YAML): ``1e-05`` -> ``1.0e-05``.

    Example:
        >>> _yaml_scalar(1e-05), _yaml_scalar(True), _yaml_scalar("a b: c")
        ('1.0e-05', 'true', "'a b: c'")
    """
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000)
    return text.removesuffix("\n").removesuffix("\n...")
