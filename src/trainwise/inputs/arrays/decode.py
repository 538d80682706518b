"""Read one file into samples: a session of frames, or an image with any number of bands.

Shapes are channels first: a 1-D frame of L range bins is (1, L), a 2-D frame (1, H, W), an
image (C, H, W) with C bands (1 for grey, 3 for RGB, any number for a multi-band TIFF).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from trainwise.errors import UserError

FRAME_SUFFIXES = (".npy", ".npz")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
TIFF_SUFFIXES = (".tif", ".tiff")
PAIR_KEYS = (("x", "y"), ("X", "y"))  # an .npz of samples and labels


def read_session(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A session file: ``(frames (F, 1, ...), per-frame labels (F,) or None)``.

    ``.npy`` holds the frames ``[frames, ...]``; ``.npz`` holds ``x`` (or ``X``) and
    optionally a per-frame ``y``.

    Raises:
        UserError: unreadable, not numeric, or without frames.
    """
    labels = None
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                x_key = next((k for k, _ in PAIR_KEYS if k in archive.files), None)
                if x_key is None:
                    raise UserError(f"'{path}' holds {archive.files or 'no arrays'}; a session "
                                    "archive needs the frames as 'x' (and optionally 'y').")
                frames = archive[x_key]
                labels = archive["y"] if "y" in archive.files else None
        else:
            frames = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise UserError(f"could not read '{path}' as a NumPy array ({_first_line(err)}); "
                        "check that it is a complete .npy/.npz file written by numpy.save, "
                        "or remove it from the folder.") from None
    if frames.ndim < 2 or not np.issubdtype(frames.dtype, np.number) or not len(frames):
        raise UserError(f"'{path}' holds an array shaped {frames.shape} ({frames.dtype}); a "
                        "session is numbers shaped [frames, range] or [frames, range, sweep], "
                        "with at least one frame.")
    if labels is not None and len(labels) != len(frames):
        raise UserError(f"'{path}': y has {len(labels)} labels for {len(frames)} frames; give "
                        "one label per frame, or leave y out and label the session.")
    return frames[:, None].astype(np.float32), labels


def read_image(path: Path) -> np.ndarray:
    """An image as (C, H, W) float32: PNG/JPEG through Pillow, TIFF through rasterio (any
    number of bands).

    Raises:
        UserError: unreadable or not an image.
    """
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            return _read_tiff(path)
        from PIL import Image

        with Image.open(path) as image:
            pixels = np.asarray(image)
    except UserError:
        raise
    except Exception as err:  # Pillow and rasterio raise many error types for bad files
        raise UserError(f"could not read '{path}' as an image ({_first_line(err)}); check "
                        "that the file is complete, or remove it from the folder.") from None
    if pixels.ndim == 2:
        pixels = pixels[None]
    else:
        pixels = np.moveaxis(pixels, -1, 0)  # (H, W, C) -> (C, H, W)
    return pixels.astype(np.float32)


def _read_tiff(path: Path) -> np.ndarray:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning
    import warnings

    with warnings.catch_warnings():
        # A chip cut from a scene need not carry coordinates to be classified.
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as dataset:
            return dataset.read().astype(np.float32)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
