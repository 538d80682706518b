"""Decode a source once into a memory-mapped cache, so that no epoch (and no later run on
the same files) decodes again.

The cache key is a fingerprint of every file's path, size and modification time and of how
labels are read: a changed, added or removed file gives a new key (and the run's manifest
records it, so ``resume`` refuses data that changed under a run). Entries are written to a
temporary folder and renamed into place, so a killed run never leaves a half-written cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainwise.errors import UserError
from trainwise.inputs.arrays.catalog import SourceFile
from trainwise.inputs.arrays.decode import read_image, read_session

CACHE_VERSION = 1  # bump when the layout of an entry changes


@dataclass
class DecodedSet:
    """Samples of one source, in file order."""

    samples: np.ndarray  # (N, C, ...) float32, memory-mapped when cached
    labels: list | None  # (N,) class names or numbers; None entries are unlabelled
    sessions: np.ndarray  # (N,) int: the file (recording session) each sample came from
    ids: list[str]  # (N,) 'path/of/file.npy#frame' or 'path/of/image.png'
    fingerprint: str


def cache_root(configured: str | None) -> Path:
    """``data.cache_dir``, else $TRAINWISE_CACHE, else ~/.cache/trainwise."""
    if configured:
        return Path(configured)
    return Path(os.environ.get("TRAINWISE_CACHE") or Path.home() / ".cache" / "trainwise")


def fingerprint_files(kind: str, folder: Path, files: list[SourceFile], labels: str) -> str:
    """A key that changes whenever a file's path, size, modification time or label does."""
    digest = hashlib.blake2b(f"{CACHE_VERSION}|{kind}|{labels}".encode(), digest_size=16)
    for entry in files:
        stat = entry.path.stat()
        digest.update(f"{_relative(entry.path, folder)}|{stat.st_size}|{stat.st_mtime_ns}|"
                      f"{entry.label!r}\n".encode())
    return digest.hexdigest()


def decode_files(kind: str, folder: Path, files: list[SourceFile], labels: str,
                 root: Path) -> DecodedSet:
    """The decoded samples of ``files``, from the cache when the fingerprint has an entry."""
    key = fingerprint_files(kind, folder, files, labels)
    entry = root / f"{kind}-{key}"
    if not (entry / "meta.json").is_file():
        _write_entry(entry, kind, folder, files, labels)
    meta = json.loads((entry / "meta.json").read_text())
    samples = np.memmap(entry / "samples.bin", dtype=np.float32, mode="r",
                        shape=tuple(meta["shape"]))
    return DecodedSet(samples, meta["labels"], np.asarray(meta["sessions"], dtype=np.int64),
                      meta["ids"], key)


def _write_entry(entry: Path, kind: str, folder: Path, files: list[SourceFile],
                 labels: str) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        meta = _decode_into(scratch / "samples.bin", kind, folder, files, labels)
        (scratch / "meta.json").write_text(json.dumps(meta))
        try:
            scratch.rename(entry)
        except OSError:  # another process wrote the same entry first: theirs is as good
            shutil.rmtree(scratch, ignore_errors=True)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _decode_into(target: Path, kind: str, folder: Path, files: list[SourceFile],
                 labels_mode: str) -> dict:
    """Decode file by file, appending raw float32 samples to ``target`` (bounded memory)."""
    shape, first, count = None, None, 0
    labels, sessions, ids = [], [], []
    with open(target, "wb") as out:
        for session, entry in enumerate(files):
            samples, own = _decode_one(kind, entry.path)
            if shape is None:
                shape, first = samples.shape[1:], entry.path
            elif samples.shape[1:] != shape:
                raise UserError(_shape_message(kind, entry.path, samples.shape[1:], first, shape))
            if labels_mode == "file" and own is None:
                raise UserError(f"'{entry.path}' has no per-frame y, and data.labels: file "
                                "reads labels from inside the files; add y to the .npz, or "
                                "label sessions by folder or index.")
            out.write(np.ascontiguousarray(samples).tobytes())
            name = _relative(entry.path, folder)
            if kind == "frames":
                ids += [f"{name}#{frame}" for frame in range(len(samples))]
            else:
                ids.append(name)
            labels += [_plain(v) for v in own] if own is not None else [entry.label] * len(samples)
            sessions += [session] * len(samples)
            count += len(samples)
    return {"shape": [count, *shape], "labels": labels, "sessions": sessions, "ids": ids}


def _decode_one(kind: str, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if kind == "frames":
        return read_session(path)
    return read_image(path)[None], None


def _shape_message(kind: str, path: Path, shape: tuple, first: Path, expected: tuple) -> str:
    what = "frames" if kind == "frames" else "image"
    return (f"'{path}': its {what} are shaped {tuple(shape)} (channels first), but "
            f"'{first}' and the files before it are {tuple(expected)}; every sample of a run "
            "must have one shape. Resize or re-record that file, or remove it.")


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return str(path)


def _plain(value):
    """A label as JSON data: numpy scalars become Python numbers or text."""
    return value.item() if isinstance(value, np.generic) else value
