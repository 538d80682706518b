"""Where a run trains and what it records of that: seeds, device and the manifest."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import torch

from trainwise.errors import UserError


def seed_everything(cfg) -> None:
    """Seed torch and set (or lift) deterministic algorithms as ``train`` asks."""
    torch.manual_seed(cfg.train.seed)
    if cfg.train.deterministic:
        # cuBLAS needs a fixed workspace for deterministic results; must be set before CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(cfg.train.deterministic)
    if cfg.train.deterministic:
        # cuDNN's autotuner times candidate kernels and may pick another one next run.
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def choose_device(name: str) -> torch.device:
    """``train.device``: auto picks CUDA, then MPS, then the CPU.

    Raises:
        UserError: the named device is not available here.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": torch.backends.mps.is_available()}
    if not available[name]:
        raise UserError(f"train.device: '{name}' is not available on this machine; use "
                        "'auto' or 'cpu'.")
    return torch.device(name)


def manifest(cfg, data, device: torch.device) -> dict:
    """manifest.json: when, how and with what the run was started, and its data."""
    packages = ("trainwise", "torch", "numpy", "pandas", "scikit-learn", "pydantic")
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: package_version(name) for name in packages},
        "device": str(device),
        "seed": cfg.train.seed,
        "deterministic": cfg.train.deterministic,
        "data_kind": cfg.data.kind,
        "data_fingerprint": data.fingerprint,
        "data_rows": data.summary["rows"],
    }


@lru_cache(maxsize=None)  # reading a distribution's metadata costs ~5 ms; a sweep asks often
def package_version(package: str) -> str | None:
    try:
        return version(package)
    except Exception:  # not installed as a distribution (e.g. running from a source tree)
        return None
