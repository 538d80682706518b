"""Checkpoints carry a checksum, the previous last.pt is kept, and every run resumes: from
last.pt, from last.prev.pt when last.pt is damaged, or from epoch 0 without any checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

import trainwise
from tests.helpers import InterruptAtStep, assert_same_run, small_config
from trainwise.errors import UserError
from trainwise.training.checkpoint import load_checkpoint, previous_path, save_checkpoint


def test_a_checkpoint_is_still_a_plain_torch_file(tmp_path):
    save_checkpoint(tmp_path / "c.pt", {"epoch": 3, "w": torch.arange(4.0)})
    plain = torch.load(tmp_path / "c.pt", weights_only=True)  # the trailer is ignored
    assert plain["epoch"] == 3 and torch.equal(plain["w"], torch.arange(4.0))


def test_a_flipped_byte_fails_the_checksum(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"w": torch.zeros(1000)})
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the tensor: torch.load alone would not notice
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="checksum does not match"):
        load_checkpoint(path)


def test_keep_previous_moves_the_old_file_aside_only_when_the_new_one_is_complete(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1}, keep_previous=True)
    assert not previous_path(path).exists()
    save_checkpoint(path, {"epoch": 2}, keep_previous=True)
    assert load_checkpoint(path)["epoch"] == 2
    assert load_checkpoint(previous_path(path))["epoch"] == 1

    class Unsaveable:  # torch.save fails on it: the write never completes
        pass

    with pytest.raises(Exception):
        save_checkpoint(path, {"epoch": 3, "bad": Unsaveable()}, keep_previous=True)
    assert load_checkpoint(path)["epoch"] == 2 and load_checkpoint(previous_path(path))["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.prev.pt", "last.pt"]


@pytest.fixture
def every_epoch(regression_csv):
    """A config whose last.pt is written after every epoch (so last.prev.pt exists)."""
    return small_config(regression_csv, epochs=6, batch_size=16, checkpoint={"last_every_s": 0})


def test_truncated_last_pt_resumes_from_the_previous_checkpoint(every_epoch, runs_dir, capsys):
    straight = trainwise.fit(every_epoch, runs_dir=runs_dir, progress=False)
    stopped = trainwise.fit(every_epoch, runs_dir=runs_dir, progress=False,
                            callbacks=[InterruptAtStep(40)])  # inside epoch 4 (12 steps each)
    assert stopped.status["status"] == "stopped" and stopped.status["global_step"] == 40
    last = stopped.path / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    capsys.readouterr()
    resumed = trainwise.resume(stopped.path, runs_dir=runs_dir, progress=False)
    message = capsys.readouterr().err
    assert "last.pt" in message and "corrupt or truncated" in message
    assert "Resuming from the previous checkpoint" in message and "(epoch 3)" in message
    assert_same_run(straight, resumed)


def test_a_run_killed_before_its_first_checkpoint_trains_again_from_epoch_0(
        regression_csv, runs_dir, capsys):
    config = small_config(regression_csv, epochs=5)
    config["model"]["dropout"] = 0.2  # the restart must also redraw the same dropout masks
    straight = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    attempt = trainwise.fit(config, runs_dir=runs_dir, progress=False,
                            callbacks=[InterruptAtStep(20)])
    for name in ("last.pt", "last.prev.pt"):  # as if killed before the first write
        (attempt.path / "checkpoints" / name).unlink(missing_ok=True)
    (attempt.path / "status.json").write_text(json.dumps({"status": "running"}))
    capsys.readouterr()
    resumed = trainwise.resume(attempt.path, runs_dir=runs_dir, progress=False)
    assert "training it again from epoch 0 in the same folder" in capsys.readouterr().err
    assert resumed.path == attempt.path
    assert_same_run(straight, resumed)


def test_no_good_checkpoint_left_says_so(every_epoch, runs_dir):
    run = trainwise.fit(every_epoch, runs_dir=runs_dir, progress=False)
    for name in ("last.pt", "last.prev.pt"):
        (run.path / "checkpoints" / name).write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="No earlier good checkpoint is left.*is damaged too"):
        trainwise.resume(run.path, epochs=8, runs_dir=runs_dir, progress=False)


def test_resume_removes_stale_temporaries(every_epoch, runs_dir):
    run = trainwise.fit(every_epoch, {"train.epochs": 3}, runs_dir=runs_dir, progress=False)
    debris = [run.path / "checkpoints" / ".last.pt.abc123.tmp", run.path / ".history.json.x.tmp",
              run.path / "plots" / ".loss.png.y.tmp"]
    for path in debris:
        path.write_bytes(b"half a file")
    trainwise.resume(run.path, epochs=4, runs_dir=runs_dir, progress=False)
    assert not [path for path in debris if path.exists()]
    assert not list(run.path.rglob("*.tmp"))


def test_killed_while_writing_the_final_record_ends_the_same_way(regression_csv, runs_dir):
    # Early stopping ends it before its epochs: on resume it must end again, not train on.
    config = small_config(regression_csv, epochs=200, lr=0.05,
                          early_stopping={"patience": 3, "restore_best": True})
    straight = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    assert straight.status["epochs"] < 200
    killed = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    for name in ("model.safetensors", "metrics.json", "findings.json"):  # killed before these
        (killed.path / name).unlink()
    (killed.path / "status.json").write_text(json.dumps({"status": "running"}))
    again = trainwise.resume(killed.path, runs_dir=runs_dir, progress=False)
    assert again.status["status"] == "finished"
    assert again.status["epochs"] == straight.status["epochs"]
    assert_same_run(straight, again)
