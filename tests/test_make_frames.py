"""The radar gesture-session generator: layout, determinism, labels, the session leak, the CLI."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner

from trainwise.cli.make_frames import make_frames
from trainwise.datasets.frames import make_frame_sessions
from trainwise.errors import UserError

SMALL = {"sessions_per_class": 3, "frames_per_session": 6, "range_bins": 16}


def _load_frames(info: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flattened frames (N, features), their labels (folder names) and sessions (file index)."""
    stacks = [np.load(path) for path in info["files"]]
    features = np.concatenate([stack.reshape(len(stack), -1) for stack in stacks])
    labels = np.concatenate([[path.parent.name] * len(stack)
                             for path, stack in zip(info["files"], stacks)])
    sessions = np.concatenate([[index] * len(stack) for index, stack in enumerate(stacks)])
    return features, labels, sessions


def test_files_and_shapes(tmp_path):
    info = make_frame_sessions(tmp_path, **SMALL)
    assert info["classes"] == ["swipe", "push", "circle", "idle"]
    assert info["frame_shape"] == (16,) and info["sessions"] == 12
    for path in info["files"]:
        frames = np.load(path)
        assert frames.shape == (6, 16) and frames.dtype == np.float32
        assert path.parent.parent == tmp_path and path.parent.name in info["classes"]
    assert (tmp_path / "README.txt").read_text().startswith("Radar-like")


def test_two_dimensional_frames(tmp_path):
    info = make_frame_sessions(tmp_path, classes=6, sweeps=8, **SMALL)
    assert info["frame_shape"] == (16, 8) and len(info["classes"]) == 6
    assert np.load(info["files"][0]).shape == (6, 16, 8)


def test_same_seed_same_bytes(tmp_path):
    first = make_frame_sessions(tmp_path / "a", seed=3, **SMALL)
    second = make_frame_sessions(tmp_path / "b", seed=3, **SMALL)
    other = make_frame_sessions(tmp_path / "c", seed=4, **SMALL)
    for a, b, c in zip(first["files"], second["files"], other["files"]):
        assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    assert first["labels"].read_bytes() == second["labels"].read_bytes()


def test_labels_csv_agrees_with_folders(tmp_path):
    info = make_frame_sessions(tmp_path, **SMALL)
    with info["labels"].open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["file", "label"]
    assert [tmp_path / row["file"] for row in rows] == info["files"]
    assert all(row["file"].split("/")[0] == row["label"] for row in rows)


def test_rerun_replaces_previous_output(tmp_path):
    make_frame_sessions(tmp_path, classes=5, **SMALL)
    info = make_frame_sessions(tmp_path, classes=2, **SMALL)
    written = sorted(path for path in tmp_path.rglob("*.npy"))
    assert written == sorted(info["files"])  # no stale sessions or class folders left
    assert not (tmp_path / "circle").exists()


def test_refuses_a_foreign_folder_and_bad_sizes(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        make_frame_sessions(tmp_path, **SMALL)
    with pytest.raises(UserError, match="classes must be 2..6"):
        make_frame_sessions(tmp_path / "new", classes=7)
    with pytest.raises(UserError, match="sweeps"):
        make_frame_sessions(tmp_path / "new", sweeps=1)


def test_random_frame_split_overestimates_accuracy(tmp_path):
    """The point of the files: unseen sessions score clearly lower than held-out frames."""
    from sklearn.model_selection import GroupKFold, KFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    info = make_frame_sessions(tmp_path, sessions_per_class=8, frames_per_session=30)
    features, labels, sessions = _load_frames(info)
    model = KNeighborsClassifier(5)
    by_session = cross_val_score(model, features, labels, groups=sessions,
                                 cv=GroupKFold(4)).mean()
    by_frame = cross_val_score(model, features, labels,
                               cv=KFold(4, shuffle=True, random_state=0)).mean()
    assert 0.4 < by_session < by_frame - 0.1  # above chance (0.25), and a clear gap
    assert by_frame > 0.85


def test_cli_writes_and_reports(tmp_path):
    out = tmp_path / "gestures"
    result = CliRunner().invoke(make_frames, [str(out), "--sessions-per-class", "2", "--frames",
                                              "4", "--range-bins", "8", "--sweeps", "3"])
    assert result.exit_code == 0, result.output
    assert "Wrote 8 sessions" in result.output and "4 x 8 x 3" in result.output
    assert np.load(out / "idle" / "s006.npy").shape == (4, 8, 3)
    again = CliRunner().invoke(make_frames, [str(out), "--classes", "2", "--frames", "4"])
    assert again.exit_code == 0, again.output


def test_cli_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "data.csv").write_text("x\n1\n")
    result = CliRunner().invoke(make_frames, [str(tmp_path)])
    assert result.exit_code == 2
    assert "not a previous make-frames output" in result.output
    assert not (tmp_path / "README.txt").exists()
