"""Synthetic radar-like recording sessions of gesture feature frames, one ``.npy`` per session.

A radar sensor tool records a *session* (one person doing one gesture for a few seconds) as a
stack of feature frames: ``[frames, range_bins]`` (1-D frames, reflected amplitude per range
bin) or ``[frames, range_bins, sweeps]`` (2-D frames, range × the sweeps inside one frame).
Each session has one label, its gesture.

The gesture is a reflection peak (a Gaussian bump along range) whose range moves over the
session differently per class: ``push`` approaches, ``swipe`` passes over (approaches, then
recedes), ``circle`` oscillates, ``idle`` stays put with little energy; ``pull`` and ``wave``
are there when ``classes`` asks for more than four. In 2-D frames the bump's range moves
across the frame's sweeps; 1-D frames smooth the recent sweeps exponentially, as sensor tools
do, so a moving peak leaves a tail towards where it came from.

The point of these files is the nuisance each session shares among all its frames: the
hand's base distance (a range offset), a gain, static background clutter (a few fixed
reflectors and the sensor's direct leakage near range 0), the peak's width and a slightly
different speed. Per-frame noise is small next to it. Frames of one session are therefore far
more alike than frames of two sessions of the same gesture, and a model validated on frames
drawn at random recognises sessions it has seen rather than gestures: split by session (the
file) to measure what it will do on a new recording.

Example:
    >>> info = make_frame_sessions("gestures", sessions_per_class=10, seed=0)  # doctest: +SKIP
    >>> info["classes"], info["frame_shape"]                                    # doctest: +SKIP
    (['swipe', 'push', 'circle', 'idle'], (32,))
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainwise.atomic import write_atomic, write_text_atomic
from trainwise.errors import UserError

README_TITLE = "Radar-like gesture recording sessions, made by trainwise make-frames"
LABELS_FILE = "labels.csv"
README_FILE = "README.txt"
SMOOTHING_SUBSAMPLES = 8  # sweeps a 1-D frame is smoothed over (its "hidden" sweep axis)
SMOOTHING_DECAY = 2.5  # e-folding of the 1-D smoothing, in sweeps (the newest weighs most)
FRAME_WINDOW = 0.15  # gesture time one frame's sweeps span (a sliding window), 0..1 per gesture
CLUTTER_SCALE = 0.35  # background relative to the gesture peak (strength 0.35-1)
FRAME_NOISE = 0.08  # per-frame Gaussian noise, same units
MAX_OFFSET_BINS = 6  # range offsets are clipped here so the peak stays on the range axis


@dataclass(frozen=True)
class Gesture:
    """One class: where its reflection peak is over gesture time ``t`` (0..1), and how strong.

    Attributes:
        name: the class label and sub-folder name.
        path: ``t`` (array, 0..1) -> peak range as a fraction of the range axis (0..1).
        strength: peak amplitude before the session's gain.
        width: peak width (Gaussian sigma) as a fraction of the range axis.
    """

    name: str
    path: Callable[[np.ndarray], np.ndarray]
    strength: float
    width: float


GESTURES = (
    Gesture("swipe", lambda t: 0.55 - 0.3 * np.sin(math.pi * t), 0.9, 0.08),
    Gesture("push", lambda t: 0.8 - 0.45 * t, 1.0, 0.035),
    Gesture("circle", lambda t: 0.5 + 0.14 * np.sin(4 * math.pi * t), 0.7, 0.05),
    Gesture("idle", lambda t: 0.5 + 0.015 * np.sin(2 * math.pi * t), 0.35, 0.1),
    Gesture("pull", lambda t: 0.3 + 0.45 * t, 1.0, 0.035),
    Gesture("wave", lambda t: 0.45 + 0.06 * np.sin(10 * math.pi * t), 0.7, 0.05),
)


@dataclass(frozen=True)
class Nuisance:
    """What one session shares across all its frames (drawn once per session)."""

    offset: float  # range shift of the whole gesture, fraction of the range axis
    gain: float  # multiplies the whole frame (hand size, sensor angle)
    speed: float  # gesture speed; >1 finishes early and holds the end pose
    start: float  # where in the gesture the recording starts, gesture time
    width: float  # multiplies the gesture's peak width
    clutter: np.ndarray  # (range_bins,) static background, the same in every frame


def make_frame_sessions(out_dir: str | Path, sessions_per_class: int = 10,
                        frames_per_session: int = 50, classes: int = 4, range_bins: int = 32,
                        sweeps: int = 0, seed: int = 0) -> dict:
    """Write ``classes × sessions_per_class`` sessions as ``OUT/<class>/<session>.npy``.

    Also writes ``OUT/labels.csv`` (``file,label``, paths relative to ``OUT``) and
    ``OUT/README.txt``. Files are float32; the same arguments give identical bytes. A
    previous output in ``out_dir`` is replaced; any other non-empty folder is refused.

    Args:
        out_dir: folder to fill (created).
        sessions_per_class: recordings per gesture.
        frames_per_session: frames in every recording.
        classes: gestures, 2..6 (the first ``classes`` of swipe, push, circle, idle, pull, wave).
        range_bins: length of the range axis.
        sweeps: 0 for 1-D frames ``[range_bins]``, else 2-D frames ``[range_bins, sweeps]``.
        seed: drives every random draw.

    Returns:
        ``out_dir``, ``classes`` (names), ``files`` (paths, class by class), ``sessions``,
        ``frames_per_session``, ``frame_shape`` (one frame's shape), ``labels``, ``readme``.

    Raises:
        UserError: an argument out of range, or ``out_dir`` holds something else.
    """
    _check_sizes(sessions_per_class, frames_per_session, classes, range_bins, sweeps)
    out = Path(out_dir)
    problem = out_dir_problem(out)
    if problem:
        raise UserError(problem)
    _remove_previous(out)
    gestures = GESTURES[:classes]
    rows = _write_sessions(out, gestures, sessions_per_class, frames_per_session, range_bins,
                           sweeps, np.random.default_rng(seed))
    write_text_atomic(out / LABELS_FILE, _labels_csv(rows))
    write_text_atomic(out / README_FILE, _readme(gestures, sessions_per_class,
                                                 frames_per_session, range_bins, sweeps, seed))
    frame_shape = (range_bins,) if sweeps == 0 else (range_bins, sweeps)
    return {"out_dir": out, "classes": [gesture.name for gesture in gestures],
            "files": [out / relative for relative, _ in rows], "sessions": len(rows),
            "frames_per_session": frames_per_session, "frame_shape": frame_shape,
            "labels": out / LABELS_FILE, "readme": out / README_FILE}


def _write_sessions(out: Path, gestures, sessions_per_class: int, frames: int, range_bins: int,
                    sweeps: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Draw and save every session, class by class; returns the ``(file, label)`` rows."""
    rows = []
    for gesture in gestures:
        for _ in range(sessions_per_class):
            nuisance = _draw_nuisance(rng, range_bins)
            stack = session_frames(gesture, nuisance, frames, range_bins, sweeps, rng)
            relative = f"{gesture.name}/s{len(rows):03d}.npy"  # ids unique across classes
            _save_npy(out / relative, stack)
            rows.append((relative, gesture.name))
    return rows


def out_dir_problem(out_dir: str | Path) -> str | None:
    """Why ``out_dir`` must not be written, or None: missing, empty, or a previous output."""
    out = Path(out_dir)
    if not out.exists():
        return None
    if not out.is_dir():
        return f"{out} is a file, not a folder; give a new or empty folder."
    if not any(out.iterdir()) or _is_previous_output(out):
        return None
    return (f"{out} is not empty and is not a previous make-frames output (no {README_FILE} "
            "made by it); give a new or empty folder, so no other files are mixed in.")


def session_frames(gesture: Gesture, nuisance: Nuisance, frames: int, range_bins: int,
                   sweeps: int, rng: np.random.Generator) -> np.ndarray:
    """One session's frames, float32: ``(frames, range_bins)`` or ``(frames, range_bins, sweeps)``.

    Args:
        gesture: the class whose peak path is drawn.
        nuisance: the session's shared offset, gain, speed, width and clutter.
        frames, range_bins, sweeps: the output's shape (``sweeps`` 0: 1-D frames).
        rng: draws the per-frame noise.
    """
    subsamples = sweeps or SMOOTHING_SUBSAMPLES
    times = _sweep_times(nuisance, frames, subsamples, trailing=sweeps == 0)  # (F, S)
    centres = (gesture.path(times) + nuisance.offset) * (range_bins - 1)  # (F, S) in bins
    width = gesture.width * nuisance.width * range_bins
    bins = np.arange(range_bins)
    distance = (bins - centres[..., None]) / width  # (F, S, R)
    bumps = gesture.strength * np.exp(-0.5 * distance ** 2)
    if sweeps == 0:
        signal = _smooth_sweeps(bumps)  # (F, R)
        clutter = nuisance.clutter
    else:
        signal = bumps.transpose(0, 2, 1)  # (F, R, S)
        clutter = nuisance.clutter[:, None]
    noise = rng.normal(0.0, FRAME_NOISE, size=signal.shape)
    return (nuisance.gain * (signal + clutter) + noise).astype(np.float32)


def _smooth_sweeps(bumps: np.ndarray) -> np.ndarray:
    """(F, S, R) -> (F, R): exponential smoothing over sweeps, the last (newest) weighs most."""
    ages = np.arange(bumps.shape[1])[::-1]
    weights = np.exp(-ages / SMOOTHING_DECAY)
    return np.tensordot(weights / weights.sum(), bumps, axes=([0], [1]))


def _sweep_times(nuisance: Nuisance, frames: int, subsamples: int, trailing: bool) -> np.ndarray:
    """Gesture time of every sweep, ``(frames, subsamples)``, clipped to 0..1.

    A 2-D frame's sweeps are centred on the frame's time; a 1-D frame smooths the sweeps
    just before it (``trailing``).
    """
    frame_times = nuisance.start + nuisance.speed * np.linspace(0.0, 1.0, frames)
    steps = np.linspace(-1.0, 0.0, subsamples) if trailing else np.linspace(-0.5, 0.5, subsamples)
    return np.clip(frame_times[:, None] + FRAME_WINDOW * steps, 0.0, 1.0)


def _draw_nuisance(rng: np.random.Generator, range_bins: int) -> Nuisance:
    """One session's shared nuisance; see the module's docstring for what each stands for."""
    # Scales tuned so that on default settings a k-NN or small MLP scores ~0.65-0.8 on
    # unseen sessions and ~0.93-0.95 on a random frame split (see tests/test_make_frames.py).
    limit = MAX_OFFSET_BINS / range_bins
    offset = float(np.clip(rng.normal(0.0, 0.063), -limit, limit))
    speed = float(rng.uniform(0.86, 1.14))
    start = float(rng.uniform(-0.07, 0.07))
    return Nuisance(offset=offset, gain=float(rng.lognormal(0.0, 0.15)), speed=speed,
                    start=start, width=float(rng.uniform(0.9, 1.125)),
                    clutter=CLUTTER_SCALE * _clutter(rng, range_bins))


def _clutter(rng: np.random.Generator, range_bins: int) -> np.ndarray:
    """Static background: 2-4 fixed reflectors plus direct leakage decaying from range 0."""
    bins = np.arange(range_bins)
    leakage = rng.uniform(0.2, 0.8) * np.exp(-bins / rng.uniform(1.0, 3.0))
    count = rng.integers(2, 5)
    positions = rng.uniform(0.15, 1.0, count) * (range_bins - 1)
    heights = rng.uniform(0.15, 0.6, count)
    widths = rng.uniform(0.02, 0.06, count) * range_bins
    reflectors = heights * np.exp(-0.5 * ((bins[:, None] - positions) / widths) ** 2)
    return leakage + reflectors.sum(axis=1)


def _check_sizes(sessions_per_class: int, frames_per_session: int, classes: int,
                 range_bins: int, sweeps: int) -> None:
    """Raise a UserError naming the first argument out of range, before anything is written."""
    limits = (("sessions_per_class", sessions_per_class, 1), ("frames_per_session",
              frames_per_session, 2), ("range_bins", range_bins, 8), ("sweeps", sweeps, 0))
    for name, value, low in limits:
        if value < low:
            raise UserError(f"{name} must be at least {low}, got {value}.")
    if not 2 <= classes <= len(GESTURES):
        raise UserError(f"classes must be 2..{len(GESTURES)} (the gestures are "
                        f"{', '.join(g.name for g in GESTURES)}), got {classes}.")
    if sweeps == 1:
        raise UserError("sweeps must be 0 (1-D frames) or at least 2, got 1.")


def _is_previous_output(out: Path) -> bool:
    readme = out / README_FILE
    return readme.is_file() and readme.read_text(encoding="utf-8",
                                                 errors="replace").startswith(README_TITLE)


def _remove_previous(out: Path) -> None:
    """Delete the files a previous output lists (and its emptied class folders), nothing else.

    Otherwise a rerun with fewer sessions or classes would leave stale sessions behind.
    """
    labels = out / LABELS_FILE
    if not labels.is_file():
        return
    with labels.open(newline="", encoding="utf-8") as handle:
        listed = [out / row["file"] for row in csv.DictReader(handle) if row.get("file")]
    for path in listed:
        path.unlink(missing_ok=True)
    for folder in {path.parent for path in listed}:
        if folder.is_dir() and folder != out and not any(folder.iterdir()):
            folder.rmdir()


def _save_npy(path: Path, frames: np.ndarray) -> None:
    # Not fsync'ed: the whole folder is cheap to make again.
    write_atomic(path, lambda handle: np.save(handle, frames), durable=False)


def _labels_csv(rows: list[tuple[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("file", "label"))
    writer.writerows(rows)
    return buffer.getvalue()


def _readme(gestures, sessions_per_class: int, frames: int, range_bins: int, sweeps: int,
            seed: int) -> str:
    shape = f"[{frames}, {range_bins}]" if sweeps == 0 else f"[{frames}, {range_bins}, {sweeps}]"
    names = ", ".join(gesture.name for gesture in gestures)
    return f"""{README_TITLE} (seed {seed}).

Each .npy file is one recording session: float32 feature frames shaped {shape}
(frames, range bins{", sweeps" if sweeps else ""}). Labels: the sub-folder, or labels.csv
(file,label; paths relative to this folder). Gestures: {names};
{sessions_per_class} sessions each.

Every session has its own range offset, gain, background clutter, peak width and speed,
shared by all its frames. Frames of one session are therefore much more alike than frames
of different sessions: split training and validation by session (by file), never by frame,
or validation accuracy will be far higher than on a new recording.

Rerunning trainwise make-frames on this folder replaces these files.
"""
