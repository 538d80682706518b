"""The ``data`` section: where rows come from, how they are cleaned, and how they split."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from trainwise.config.augment import AugmentConfig
from trainwise.config.raster import RasterConfig
from trainwise.config.section import Section
from trainwise.config.streaming import StreamingConfig

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
    "buffer": ("spatial_blocks", "boxes"),
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
    # precedence over validation boxes; the rest trains. An empty list: no such split. For a
    # raster, boxes are [x_min, y_min, x_max, y_max] in the scene's CRS units (named regions).
    val_boxes: list[Box] = []
    test_boxes: list[Box] = []
    train_boxes: list[Box] = []  # boxes: train on rows in these only (others dropped); [] = all
    block_size: float | None = Field(None, gt=0.0)  # spatial_blocks: block side, coordinate units
    folds: int = Field(5, ge=2)  # spatial_blocks, group_kfold: k, the number of folds
    fold: int = Field(0, ge=0)  # spatial_blocks, group_kfold: the test fold, 0 to folds - 1
    # spatial_blocks or boxes on a raster: training chips keep this distance (CRS units)
    # from every validation and test block, against spatial autocorrelation; 0 = only no overlap.
    buffer: float = Field(0.0, ge=0.0)
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
        return boxes

    def check_box_latitudes(self) -> None:
        """Tables' boxes are lon/lat degrees (a raster's are in its CRS units)."""
        for name in ("val_boxes", "test_boxes", "train_boxes"):
            for index, (lon_min, lat_min, lon_max, lat_max) in enumerate(getattr(self, name)):
                if not -90.0 <= lat_min < lat_max <= 90.0:
                    raise ValueError(f"data.split.{name}[{index}] = "
                                     f"{[lon_min, lat_min, lon_max, lat_max]}: "
                                     "latitudes must lie within -90..90; a box is [lon_min, "
                                     "lat_min, lon_max, lat_max] (longitude first)")

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


# The input kinds data.kind can name; each is registered in trainwise.inputs.registry (kept
# here by name, so that validating a config imports no input kind and no torch).
INPUT_KINDS = ("tabular", "frames", "images", "raster")
ARRAY_KINDS = ("frames", "images")  # samples are arrays read from files, not table rows
# The table-only keys: set under an array kind they would silently do nothing.
TABLE_ONLY_KEYS = ("features", "drop", "categorical", "na_values", "group_by")
# Keys that only array kinds read.
ARRAY_ONLY_KEYS = ("labels", "index", "cache_dir")


class DataConfig(Section):
    # What a sample is and how it is read: tabular (rows of a CSV/Parquet table); frames
    # (sensor feature frames: a folder of .npy/.npz session files, each [frames, ...]); images
    # (a folder of PNG/JPEG/TIFF files, any number of bands). docs/arrays.md.
    kind: Literal[INPUT_KINDS] = "tabular"
    # tabular: a CSV or Parquet path (relative to the config file) or a bundled dataset name;
    # frames, images: a folder, an .npz file with x and y (or X.npy and y.npy in a folder), or
    # the bundled 'digits' (images).
    source: str
    # The column to predict (tabular); for frames and images, the name of the label in
    # predictions (<target>_pred) and in a labels index. Left out: 'label' for arrays.
    target: str | None = None
    # frames, images: where labels come from. auto: inside the file (an .npz's y), else an
    # index CSV if there is one, else the sub-folder; folders; index (data.index or
    # labels.csv with columns file and label); file (an .npz's per-frame y).
    labels: Literal["auto", "folders", "index", "file"] = "auto"
    index: str | None = None  # frames, images: the labels CSV; None = SOURCE/labels.csv
    # frames, images: where decoded arrays are cached (memory-mapped, keyed by the files' sizes
    # and modification times); None = $TRAINWISE_CACHE or ~/.cache/trainwise.
    cache_dir: str | None = None
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
    # frames, images: random changes to each training batch, on the device, seeded per batch
    # so a resumed run augments exactly as the uninterrupted one (docs/arrays.md).
    augment: AugmentConfig = AugmentConfig()
    # raster: the label raster, classes, nodata and chips (docs/rasters.md).
    raster: RasterConfig = RasterConfig()

    @model_validator(mode="before")
    @classmethod
    def _frames_split_by_session(cls, raw: Any) -> Any:
        """Frames of one recording session are nearly alike, so by default they never cross
        splits: the split groups by session file unless the config names a method. For array
        kinds, a group split's groups are the files ("session")."""
        if not isinstance(raw, dict) or raw.get("kind") not in ARRAY_KINDS \
                or not isinstance(raw.get("split", {}), dict):
            return raw
        split = dict(raw.get("split") or {})
        if "method" not in split and raw.get("kind") == "frames":
            split["method"] = "group"
        if split.get("method") == "group":
            split.setdefault("group_column", "session")
        return {**raw, "split": split}

    @model_validator(mode="after")
    def _check_kind_keys(self) -> DataConfig:
        if self.kind != "raster":
            self.split.check_box_latitudes()
        if self.kind == "tabular":
            if not self.target:
                raise ValueError("target is required: the column to predict")
            changed = [key for key in ARRAY_ONLY_KEYS
                       if getattr(self, key) != type(self).model_fields[key].default]
            if self.augment.active():
                changed.append("augment")
            if self.raster != RasterConfig():
                changed.append("raster")
            if changed:
                raise ValueError(f"{', '.join(changed)} apply to data.kind frames or images "
                                 "only; remove them, or set data.kind")
            return self
        if self.target is None:
            self.target = "label"
        if self.kind == "raster":
            return self._check_raster()
        if self.raster != RasterConfig():
            raise ValueError(f"raster applies to data.kind: raster only; remove it for "
                             f"data.kind: {self.kind}")
        changed = [key for key in TABLE_ONLY_KEYS
                   if getattr(self, key) != type(self).model_fields[key].default]
        if changed:
            raise ValueError(f"{', '.join(changed)} apply to tables (data.kind: tabular) only; "
                             f"remove them for data.kind: {self.kind}")
        if self.balance == "smote":
            raise ValueError("balance: smote interpolates table rows; for frames and images "
                             "use oversample or undersample")
        if self.split.method not in ("random", "group", "files", "none"):
            raise ValueError(f"split.method '{self.split.method}' applies to tables; for "
                             f"data.kind: {self.kind} choose group (by session file), random, "
                             "files or none")
        if self.split.method == "group" and self.split.group_column != "session":
            raise ValueError("for frames and images, split.method: group groups by session "
                             "file; set split.group_column: session (or leave it out)")
        return self

    def _check_raster(self) -> DataConfig:
        changed = [key for key in (*TABLE_ONLY_KEYS, *ARRAY_ONLY_KEYS)
                   if getattr(self, key) != type(self).model_fields[key].default]
        if self.balance != "none":
            changed.append("balance")
        if changed:
            raise ValueError(f"{', '.join(changed)} do not apply to data.kind: raster; remove "
                             "them (a raster's labels come from data.raster.labels)")
        if bool(self.raster.labels) == bool(self.raster.points):
            raise ValueError("data.kind: raster needs data.raster.labels (a label raster, one "
                             "band of class values on the scene's grid: segmentation) or "
                             "data.raster.points (a CSV of x, y, label: a class per chip), "
                             "one of the two")
        unlabelled = [i for i, entry in enumerate(self.raster.scenes) if not entry.labels]
        if self.raster.labels and unlabelled:
            raise ValueError(f"raster.scenes[{unlabelled[0]}] has no labels; with "
                             "data.raster.labels every scene needs its label raster")
        if self.split.method not in ("spatial_blocks", "boxes", "none"):
            raise ValueError(f"split.method '{self.split.method}' does not apply to rasters: "
                             "chips that overlap would leak across a random split. Use "
                             "spatial_blocks (block_size in the scene's CRS units), boxes "
                             "(named regions, [x_min, y_min, x_max, y_max] in the CRS) or none")
        return self
