"""The frames and images input kinds: array samples read from files, split without leaking
sessions, standardised per channel, augmented on the device per batch."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import torch

from trainwise.data.prepare import PreparedData, tiny_split_warnings
from trainwise.data.split import split_seed
from trainwise.errors import UserError
from trainwise.inputs.arrays.cache import DecodedSet
from trainwise.inputs.arrays.normalise import ArrayPreprocessor
from trainwise.inputs.arrays.source import load_source
from trainwise.inputs.arrays.split import split_samples
from trainwise.inputs.base import InputKind
from trainwise.training.augment import AugmentedBatches, build_augmenter
from trainwise.training.batches import InMemoryBatches
from trainwise.training.samplers import build_sampler


class ArrayInputs(InputKind):
    """Samples are arrays (channels first); one file holds one image or a session of frames."""

    def prepare(self, cfg, fitted: ArrayPreprocessor | None = None,
                refit_target: bool = True) -> PreparedData:
        data_cfg = cfg.data
        decoded = load_source(data_cfg.source, self.name, data_cfg, "data.source")
        rows, warnings = split_samples(decoded.labels, decoded.sessions, data_cfg.split,
                                       cfg.task.type, split_seed(cfg), self.name)
        parts = {name: _subset(decoded, index) for name, index in rows.items()}
        fingerprints = [decoded.fingerprint]
        for name, field in (("val", "val_file"), ("test", "test_file")):
            path = getattr(data_cfg.split, field) if data_cfg.split.method == "files" else None
            if path:
                parts[name] = load_source(path, self.name, data_cfg, f"data.split.{field}")
                fingerprints.append(parts[name].fingerprint)
        train = parts["train"]
        prep = self._preprocessing(fitted, refit_target, train, cfg)
        arrays = {name: (prep.transform_features(part.samples, f"data.source ({name})"),
                         prep.transform_target(part.labels, f"data.source ({name})"))
                  for name, part in parts.items()}
        summary = _summary(parts, prep, data_cfg)
        warnings += tiny_split_warnings(summary["rows"], cfg)
        if warnings:
            summary["warnings"] = warnings
        return PreparedData(prep, arrays, summary, "+".join(fingerprints),
                            sample_ids={name: part.ids for name, part in parts.items()})

    def _preprocessing(self, fitted, refit_target: bool, train: DecodedSet,
                       cfg) -> ArrayPreprocessor:
        """Fitted on the training split; reused from a run (resume, init_from), with the
        labels fitted anew for transfer to new classes."""
        fresh = ArrayPreprocessor.fit(train.samples, train.labels, cfg.task.type,
                                      cfg.data.target, self.name) if fitted is None or \
            refit_target else None
        if fitted is None:
            return fresh
        if not refit_target:
            return fitted
        return ArrayPreprocessor(**{**fitted.to_dict(), "task": fresh.task,
                                    "target": fresh.target, "classes": fresh.classes,
                                    "target_mean": fresh.target_mean,
                                    "target_std": fresh.target_std})

    def input_shape(self, prep: ArrayPreprocessor) -> tuple[int, ...]:
        return tuple(prep.sample_shape)

    def batches(self, data: PreparedData, cfg, device: torch.device):
        x_train, y_train = (torch.from_numpy(a).to(device) for a in data.arrays["train"])
        batches = InMemoryBatches(x_train, y_train, cfg.train.batch_size, cfg.train.seed,
                                  sampler=build_sampler(cfg.data.balance,
                                                        data.arrays["train"][1]))
        augmenter = build_augmenter(cfg.data.augment, self.input_shape(data.preprocessor))
        return batches if augmenter is None else AugmentedBatches(batches, augmenter,
                                                                  cfg.train.seed)

    def load_preprocessing(self, saved: dict) -> ArrayPreprocessor:
        return ArrayPreprocessor.from_dict(saved)

    def read(self, path: str, field: str, cfg, labelled: bool = False) -> DecodedSet:
        return load_source(path, self.name, cfg.data, field, require_labels=labelled)

    def features(self, prep: ArrayPreprocessor, raw: DecodedSet, source: str,
                 unseen_categories: str) -> np.ndarray:
        return prep.transform_features(raw.samples, source)

    def targets(self, prep: ArrayPreprocessor, raw: DecodedSet, source: str) -> np.ndarray:
        missing = [i for i, label in enumerate(raw.labels) if label is None]
        if missing:
            raise UserError(f"{source}: '{raw.ids[missing[0]]}' has no label ({len(missing)} "
                            "unlabelled); evaluation needs labelled samples (class "
                            "sub-folders, labels.csv, or y in the .npz).")
        return prep.transform_target(raw.labels, source)

    def index(self, raw: DecodedSet) -> pd.Index:
        return pd.RangeIndex(len(raw.ids))

    def identify(self, raw: DecodedSet) -> pd.DataFrame:
        return pd.DataFrame({"item": raw.ids})


class Frames(ArrayInputs):
    """Sensor feature frames: each frame of a session file is one sample, (1, L) or (1, H, W)."""

    name = "frames"


class Images(ArrayInputs):
    """Images and multi-band chips: each file is one sample, (bands, H, W)."""

    name = "images"


def _subset(decoded: DecodedSet, rows: np.ndarray) -> DecodedSet:
    # A run of consecutive rows (a whole file, as separate validation files give) is a view
    # of the samples, not a copy of them: nothing writes into samples, and the cache's are
    # mapped read-only.
    consecutive = len(rows) > 0 and bool(np.all(np.diff(rows) == 1))
    samples = (decoded.samples[rows[0]:rows[-1] + 1] if consecutive
               else decoded.samples[rows])
    return DecodedSet(np.asarray(samples), [decoded.labels[i] for i in rows],
                      decoded.sessions[rows], [decoded.ids[i] for i in rows],
                      decoded.fingerprint)


def _summary(parts: dict[str, DecodedSet], prep: ArrayPreprocessor, data_cfg) -> dict:
    """data_summary.json: samples and sessions per split, classes, shape, split method."""
    summary = {
        "rows": {name: len(part.ids) for name, part in parts.items()},
        "sessions": {name: int(len(set(part.sessions.tolist()))) for name, part in parts.items()},
        "sample_shape": prep.sample_shape,
        "split": {"method": data_cfg.split.method},
    }
    if prep.task == "classification":
        summary["classes"] = {name: {str(k): v for k, v in sorted(
            Counter(map(str, part.labels)).items())} for name, part in parts.items()}
    return summary
