"""Checkpoint files: written atomically with a checksum, read with weights-only loading.

A checkpoint is ``torch.save``'s zip archive followed by a trailer, ``CHECKSUM_MARK`` and the
SHA-256 of the archive. ``torch.load`` ignores bytes after the archive, so the file stays an
ordinary checkpoint for any other tool; trainwise checks the digest first, because torch
itself reads a flipped byte in a tensor without complaint. Files without the trailer (older
runs) are read unchecked.

``last.pt`` is written with ``keep_previous``: the new file is complete and on disk before the
old one moves aside to ``last.prev.pt``, so a good checkpoint exists at every instant and a
damaged ``last.pt`` (a torn copy, a failing disk) still leaves one to resume from.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import torch
from torch import nn

from trainwise.atomic import write_atomic
from trainwise.errors import UserError

CHECKSUM_MARK = b"\ntrainwise-sha256:"
_DIGEST_BYTES = 32


def previous_path(path: str | Path) -> Path:
    """Where ``save_checkpoint(..., keep_previous=True)`` keeps the file it replaced."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save_checkpoint(path: str | Path, payload: dict, keep_previous: bool = False) -> None:
    """Write ``payload`` (tensors and plain data) to ``path`` atomically, with its checksum.

    Args:
        path: the checkpoint file.
        payload: what to save.
        keep_previous: move the file being replaced to ``previous_path(path)`` (only once
            the new one is durable).
    """
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    archive = buffer.getbuffer()
    trailer = CHECKSUM_MARK + hashlib.sha256(archive).digest()

    def write(handle) -> None:
        handle.write(archive)
        handle.write(trailer)

    def keep_old() -> None:
        if path.exists():
            os.replace(path, previous_path(path))

    write_atomic(path, write, before_replace=keep_old if keep_previous else None)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint with ``weights_only=True``, checking its checksum.

    Raises:
        UserError: the file is missing, fails its checksum, or cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint '{path}' does not exist; the run has no saved state to "
                        "resume from (train.checkpoint.save_last must be on).")
    data = path.read_bytes()
    archive = _verified_archive(data, path)
    try:
        return torch.load(io.BytesIO(archive), map_location="cpu", weights_only=True)
    except Exception as err:  # damaged bytes also raise KeyError, IndexError, struct.error...
        raise _corrupt(path, f"{type(err).__name__}: {_unpickler_reason(err)}") from None


def _verified_archive(data: bytes, path: Path) -> bytes:
    """The archive part of a checkpoint, after checking the trailer's digest when it has one."""
    trailer_start = len(data) - len(CHECKSUM_MARK) - _DIGEST_BYTES
    if trailer_start < 0 or data[trailer_start:-_DIGEST_BYTES] != CHECKSUM_MARK:
        return data  # written before checksums, or the trailer itself was cut off
    archive = memoryview(data)[:trailer_start]
    if hashlib.sha256(archive).digest() != data[-_DIGEST_BYTES:]:
        raise _corrupt(path, "its SHA-256 checksum does not match its content")
    return archive


def _unpickler_reason(err: Exception) -> str:
    """torch's weights-only message opens with advice to load with weights_only=False (which
    runs code); the unpickler's own reason, after that advice, is what the user needs."""
    text = str(err)
    _, marker, reason = text.partition("WeightsUnpickler error:")
    reason = (reason if marker else text).strip()
    return reason.splitlines()[0] if reason else "unreadable"


def _corrupt(path: Path, reason: str) -> UserError:
    return UserError(f"checkpoint '{path}' is corrupt or truncated ({reason}). trainwise "
                     "writes checkpoints whole and checks them, so it was damaged after it "
                     "was written (a copy cut short, a failing disk).")


def load_weights_into(model: nn.Module, weights: dict, source: str) -> None:
    """``model.load_state_dict(weights)``, with a clear error when the shapes do not match."""
    own = model.state_dict()
    missing = [name for name in own if name not in weights]
    unexpected = [name for name in weights if name not in own]
    mismatched = [f"{name} {tuple(weights[name].shape)} vs {tuple(tensor.shape)}"
                  for name, tensor in own.items()
                  if name in weights and weights[name].shape != tensor.shape]
    if missing or unexpected or mismatched:
        details = "; ".join(filter(None, [
            f"shape differs: {', '.join(mismatched[:4])}" if mismatched else "",
            f"missing: {', '.join(missing[:4])}" if missing else "",
            f"unexpected: {', '.join(unexpected[:4])}" if unexpected else "",
        ]))
        raise UserError(f"{source} holds weights of a differently shaped model ({details}). "
                        "Use a checkpoint from a run with the same model and data columns, or "
                        "change model.hidden / the features to match it.")
    model.load_state_dict(weights)
