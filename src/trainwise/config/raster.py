"""The ``data.raster`` section: how a multi-band scene and its label raster become chips."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from trainwise.config.section import Section


class SceneEntry(Section):
    image: str  # a multi-band GeoTIFF with the same bands as data.source
    labels: str | None = None  # its label raster (needed with data.raster.labels)


class RasterConfig(Section):
    # The label raster: one band of class values on the scene's grid (data.source is the
    # scene, a multi-band GeoTIFF). Relative paths are relative to the config file.
    labels: str | None = None
    # Or, for scene classification (task.type: classification, a cnn or resnet): a CSV of
    # labelled points, columns x, y (the scene's CRS) and label; each point's chip is the
    # chip_size window centred on it.
    points: str | None = None
    # More scenes, each with its label raster: [{image: b.tif, labels: b_labels.tif}, ...].
    # Every scene is split into blocks (or boxes) of its own; chips come from all of them.
    scenes: list[SceneEntry] = []
    # A CSV with columns value,name: the classes and their order. None: classes.csv beside
    # the label raster if there is one, else every value found in the label raster.
    classes: str | None = None
    # The scene's nodata value; None = the file's own. A pixel where any band has it is
    # ignored everywhere: loss, metrics, band statistics, and the output map.
    nodata: float | None = None
    label_nodata: int | None = None  # the label raster's nodata value; None = the file's own
    # A label raster on another grid than the scene: refuse (the default) or resample it
    # onto the scene's grid with nearest neighbours.
    align_labels: Literal["refuse", "nearest"] = "refuse"
    chip_size: int = Field(64, ge=8)  # side of a square chip, pixels
    # Evaluation chips: a regular grid with this step (pixels; None = chip_size), the last
    # row and column moved back to end at the edge, so every pixel is evaluated.
    stride: int | None = Field(None, ge=1)
    train_chips: int = Field(512, ge=1)  # random training chips, drawn once per run (seeded)
    # A training chip needs at least this share of labelled, valid pixels.
    min_labelled: float = Field(0.5, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _stride_fits(self) -> RasterConfig:
        if self.stride is not None and self.stride > self.chip_size:
            raise ValueError(f"stride ({self.stride}) larger than chip_size ({self.chip_size}) "
                             "would skip pixels; use a stride of chip_size or less")
        return self

    @property
    def eval_stride(self) -> int:
        return self.stride or self.chip_size
