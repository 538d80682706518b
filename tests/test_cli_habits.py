"""Habits a Keras user brings: `train --epochs/--lr/--batch-size`; and a library call that
leaves its host process's signal handlers alone (the CLI is the one to take them over)."""

from __future__ import annotations

import signal

import yaml

from tests.helpers import small_config
from trainwise.callbacks import Callback
from trainwise.session import fit


def test_train_takes_epochs_lr_and_batch_size_options(invoke, tmp_path, runs_dir,
                                                      regression_csv):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(small_config(regression_csv, epochs=20)))
    result = invoke("train", config, "--epochs", 3, "--lr", 0.002, "--batch-size", 8,
                    "train.epochs=9", "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 0, result.output
    run_dir = next(p for p in runs_dir.iterdir() if p.is_dir())
    train = yaml.safe_load((run_dir / "config.yaml").read_text())["train"]
    assert (train["epochs"], train["lr"], train["batch_size"]) == (3, 0.002, 8)
    assert invoke("train", config, "--epochs", 0, "--runs-dir", runs_dir).exit_code == 2


class RecordHandlers(Callback):
    def on_epoch_end(self, trainer, record):
        self.seen = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)


def test_fit_leaves_signal_handlers_alone_unless_asked(tmp_path, regression_csv):
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    watcher = RecordHandlers()
    fit(small_config(regression_csv, epochs=1), runs_dir=tmp_path / "a", progress=False,
        callbacks=[watcher])
    assert watcher.seen == before
    fit(small_config(regression_csv, epochs=1), runs_dir=tmp_path / "b", progress=False,
        callbacks=[watcher], handle_signals=True)
    assert watcher.seen != before
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
