"""Every form an array source takes, read into a ``DecodedSet``: a folder of files (cached),
an ``.npz`` of ``x`` and ``y`` (or a folder with ``X.npy`` and ``y.npy``), one file given
at predict time, or the bundled 8×8 digits."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from trainwise.errors import UserError
from trainwise.inputs.arrays.cache import DecodedSet, cache_root, decode_files
from trainwise.inputs.arrays.catalog import SourceFile, catalog
from trainwise.inputs.arrays.decode import FRAME_SUFFIXES, IMAGE_SUFFIXES

BUNDLED = ("digits",)  # images: scikit-learn's 8×8 handwritten digits (1,797 images)


def suffixes_of(kind: str) -> tuple[str, ...]:
    return FRAME_SUFFIXES if kind == "frames" else IMAGE_SUFFIXES


def load_source(source: str, kind: str, data_cfg, field: str,
                require_labels: bool = True) -> DecodedSet:
    """The samples of ``source`` for input kind ``kind`` (frames or images).

    Raises:
        UserError: a missing path, an unreadable file, shapes that differ (naming the file),
            or unlabelled samples when ``require_labels``.
    """
    if kind == "images" and source in BUNDLED:
        decoded = _digits()
    else:
        path = Path(source)
        if not path.exists():
            raise UserError(f"{field}: '{path}' does not exist; check the path (relative paths "
                            "are read from the config file's folder).")
        pair = _pair_files(path)
        if pair is not None:
            decoded = _from_pair(*pair, kind)
        elif path.is_file():
            files = [SourceFile(path, None)]
            decoded = decode_files(kind, path.parent, files, "none",
                                   cache_root(data_cfg.cache_dir))
        else:
            files = catalog(path, suffixes_of(kind), data_cfg.labels, data_cfg.index,
                            data_cfg.target, field, require_labels)
            decoded = decode_files(kind, path, files, data_cfg.labels,
                                   cache_root(data_cfg.cache_dir))
    if require_labels:
        _require_labels(decoded, field)
    return decoded


def _pair_files(path: Path) -> tuple[Path, Path | None] | None:
    """An .npz of x and y, or a folder holding X.npy and y.npy; None for other sources."""
    if path.is_file() and path.suffix.lower() == ".npz" and _is_pair_archive(path):
        return path, None
    if path.is_dir() and (path / "X.npy").is_file():
        return path / "X.npy", path / "y.npy" if (path / "y.npy").is_file() else None
    return None


def _is_pair_archive(path: Path) -> bool:
    """An .npz with labels y: samples and their labels (and maybe groups), rather than one
    unlabelled session."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return "y" in archive.files
    except (OSError, ValueError, zipfile.BadZipFile):
        return False


def _from_pair(x_path: Path, y_path: Path | None, kind: str) -> DecodedSet:
    try:
        if x_path.suffix == ".npz":
            with np.load(x_path, allow_pickle=False) as archive:
                x = archive["x"] if "x" in archive.files else archive["X"]
                y = archive["y"]
                groups = archive["groups"] if "groups" in archive.files else None
        else:
            x, y, groups = np.load(x_path), np.load(y_path) if y_path else None, None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise UserError(f"could not read '{x_path}' as x/y arrays ({err}); save them with "
                        "numpy.savez(path, x=..., y=...).") from None
    if y is not None and len(y) != len(x):
        raise UserError(f"'{x_path}': x has {len(x)} samples but y {len(y)} labels; give one "
                        "label per sample.")
    # Channels first: frames (N, L) and (N, H, W) and images (N, H, W) gain one channel.
    samples = x[:, None] if (kind == "frames" or x.ndim == 3) else x
    sessions = np.asarray(groups) if groups is not None else np.arange(len(x))
    _, sessions = np.unique(sessions, return_inverse=True)
    labels = [v.item() if isinstance(v, np.generic) else v for v in y] if y is not None \
        else [None] * len(x)
    return DecodedSet(samples.astype(np.float32, copy=False), labels, sessions.astype(np.int64),
                      [f"{x_path.name}#{i}" for i in range(len(x))], _file_key(x_path, y_path))


def _digits() -> DecodedSet:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32)[:, None]  # (1797, 1, 8, 8), values 0..16
    count = len(images)
    return DecodedSet(images, [int(v) for v in digits.target], np.arange(count),
                      [f"digits#{i}" for i in range(count)],
                      hashlib.blake2b(images.tobytes(), digest_size=16).hexdigest())


def _file_key(*paths: Path | None) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for path in paths:
        if path is not None:
            stat = path.stat()
            digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _require_labels(decoded: DecodedSet, field: str) -> None:
    missing = [i for i, label in enumerate(decoded.labels or [None]) if label is None]
    if missing:
        raise UserError(f"{field}: sample '{decoded.ids[missing[0]] if decoded.ids else '?'}' "
                        f"has no label ({len(missing)} unlabelled in all); label files by "
                        "class sub-folder, by an index CSV (data.index: file,label), or with a "
                        "per-frame y in an .npz.")
