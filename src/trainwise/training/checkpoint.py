"""Checkpoint files: written atomically, read with weights-only loading (no code runs)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from trainwise.atomic import write_atomic
from trainwise.errors import UserError


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Write ``payload`` (tensors and plain data) to ``path`` atomically."""
    write_atomic(path, lambda handle: torch.save(payload, handle))


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint with ``weights_only=True``; a damaged file is a UserError, not a crash."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint '{path}' does not exist; the run has no saved state to "
                        "resume from (train.checkpoint.save_last must be on).")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # damaged bytes also raise KeyError, IndexError, struct.error...
        # torch's weights-only message opens with advice to load with weights_only=False
        # (which runs code); show the unpickler's own reason instead.
        text = str(err)
        _, marker, reason = text.partition("WeightsUnpickler error:")
        reason = (reason if marker else text).strip()
        raise UserError(f"checkpoint '{path}' is corrupt or truncated ({type(err).__name__}: "
                        f"{reason.splitlines()[0] if reason else 'unreadable'}). Resume from "
                        "another run, or retrain; trainwise never writes partial files, so this "
                        "one was changed after it was written.") from None


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
