"""A run never stays 'running': a crash ends it failed (reason, error.log, exit 1), a diverging
run ends diverged with its diagnosis, a second Ctrl-C leaves it interrupted and resumable,
and a failing disk is a clear error (exit 2) with the last good checkpoint intact."""

from __future__ import annotations

import errno
import json

import pytest
import yaml

import trainwise
from tests.helpers import assert_same_run, small_config
from trainwise.callbacks import Callback
from trainwise.errors import RunFailed, UserError
from trainwise.tracking import RunStore
from trainwise.training.checkpoint import load_checkpoint


class RaiseAtEpoch(Callback):
    """Raises ``error`` at the end of epoch ``epoch``."""

    def __init__(self, epoch: int, error: BaseException):
        self.epoch, self.error = epoch, error

    def on_epoch_end(self, trainer, record):
        if record["epoch"] == self.epoch:
            raise self.error


def only_run(runs_dir):
    runs = [path for path in runs_dir.iterdir() if path.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def recorded(run_path, runs_dir) -> tuple[dict, dict]:
    """The run's status.json and its store row."""
    status = json.loads((run_path / "status.json").read_text())
    return status, RunStore(runs_dir / "trainwise.db").get_run(run_path.name)


def test_a_crash_ends_failed_with_the_reason_and_a_traceback_log(regression_csv, runs_dir):
    config = small_config(regression_csv, epochs=4)
    with pytest.raises(RunFailed) as caught:
        trainwise.fit(config, runs_dir=runs_dir, progress=False,
                      callbacks=[RaiseAtEpoch(2, ValueError("the sensor file went away"))])
    run = only_run(runs_dir)
    status, row = recorded(run, runs_dir)
    assert status["status"] == row["status"] == "failed"
    assert status["reason"] == row["reason"] == "ValueError: the sensor file went away"
    log = (run / "error.log").read_text()
    assert "Traceback" in log and "test_run_failures.py" in log and "on_epoch_end" in log
    assert str(run / "error.log") in str(caught.value)
    assert isinstance(caught.value.__cause__, ValueError)


def test_a_sigterm_while_the_failure_is_recorded_does_not_cut_it_short(regression_csv,
                                                                      runs_dir, monkeypatch):
    """When a data-parallel rank dies, torchrun sends the others SIGTERM: the survivor must
    still record the failure (it was killed mid-record once, under load)."""
    import os
    import signal

    from trainwise.session import Session

    record_failure = Session.fail

    def fail_under_sigterm(session, error):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives just as the failure is being recorded
        return record_failure(session, error)

    monkeypatch.setattr(Session, "fail", fail_under_sigterm)
    with pytest.raises(RunFailed):
        trainwise.fit(small_config(regression_csv, epochs=3), runs_dir=runs_dir,
                      progress=False, callbacks=[RaiseAtEpoch(2, RuntimeError("boom"))],
                      handle_signals=True)
    status, row = recorded(only_run(runs_dir), runs_dir)
    assert status["status"] == row["status"] == "failed"


def test_the_cli_says_failed_in_one_paragraph_and_exits_1(invoke, tmp_path, runs_dir,
                                                          regression_csv, monkeypatch):
    import trainwise.tasks.base

    def broken(*args, **kwargs):
        raise ZeroDivisionError("baseline exploded")

    monkeypatch.setattr(trainwise.tasks.base, "compute_baselines", broken)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(small_config(regression_csv, epochs=2)))
    result = invoke("train", config, "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "ZeroDivisionError: baseline exploded" in result.output
    assert "error.log" in result.output and "trainwise resume" in result.output
    run = only_run(runs_dir)
    assert recorded(run, runs_dir)[1]["status"] == "failed"
    runs = invoke("runs", "--runs-dir", runs_dir)
    assert "failed" in runs.output and "running" not in runs.output


def test_a_diverging_run_ends_diverged_with_its_diagnosis(invoke, tmp_path, runs_dir,
                                                          regression_csv):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(small_config(regression_csv, epochs=20, lr=1e30)))
    result = invoke("train", config, "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    run = only_run(runs_dir)
    status, row = recorded(run, runs_dir)
    assert status["status"] == row["status"] == "diverged"
    assert "diverged" in status["reason"] and "train.lr" in status["reason"]
    assert status["epochs"] < 20  # the NaN guard stopped it
    findings = json.loads((run / "findings.json").read_text())
    assert any("lr" in " ".join(finding["advice"]) for finding in findings), findings
    assert not (run / "model.safetensors").exists()  # no final weights that give NaN
    assert "Diagnosis" in result.output


def test_a_second_ctrl_c_leaves_the_run_interrupted_and_resumable(regression_csv, runs_dir):
    config = small_config(regression_csv, epochs=6, checkpoint={"last_every_s": 0})
    straight = trainwise.fit(config, runs_dir=runs_dir.parent / "straight", progress=False)
    with pytest.raises(KeyboardInterrupt):
        trainwise.fit(config, runs_dir=runs_dir, progress=False,
                      callbacks=[RaiseAtEpoch(3, KeyboardInterrupt())])
    run = only_run(runs_dir)
    assert recorded(run, runs_dir)[0]["status"] == "interrupted"
    resumed = trainwise.resume(run, runs_dir=runs_dir, progress=False)
    assert_same_run(straight, resumed)


# --------------------------------------------------------------- injected write failures
def fail_nth(monkeypatch, module, name: str, failing_call: int, code: int, when=None):
    """Make ``module.name`` raise OSError(code) on its ``failing_call``-th call (counted among
    calls for which ``when(*args)`` holds)."""
    real = getattr(module, name)
    calls = []

    def wrapper(*args, **kwargs):
        if when is None or when(*args):
            calls.append(args)
            if len(calls) == failing_call:
                # As write_atomic raises it: naming the file it could not write.
                raise OSError(code, f"{errno.errorcode[code]} (injected)",
                              str(args[0]) if args and not isinstance(args[0], int) else None)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_failing_checkpoint_write_keeps_the_last_good_one(regression_csv, runs_dir,
                                                            monkeypatch, code):
    import trainwise.atomic

    config = small_config(regression_csv, epochs=5, checkpoint={"last_every_s": 0})
    straight = trainwise.fit(config, runs_dir=runs_dir.parent / "straight", progress=False)
    # Durable writes fsync: per epoch best.pt (when it improved) then last.pt. The fourth
    # fsync fails, within epoch 2 at the latest.
    fail_nth(monkeypatch, trainwise.atomic.os, "fsync", 4, code)
    with pytest.raises(UserError) as caught:
        trainwise.fit(config, runs_dir=runs_dir, progress=False)
    monkeypatch.undo()
    run = only_run(runs_dir)
    message = str(caught.value)
    assert "could not write" in message and "(injected)" in message
    assert "last good checkpoint" in message and f"trainwise resume {run.name}" in message
    assert recorded(run, runs_dir)[0]["status"] == "failed"
    assert load_checkpoint(run / "checkpoints" / "last.pt")["train_state"]["epoch"] >= 1
    assert not list(run.rglob("*.tmp"))
    resumed = trainwise.resume(run, runs_dir=runs_dir, progress=False)
    assert_same_run(straight, resumed)


def test_a_failing_weights_write_is_a_clear_error(invoke, tmp_path, runs_dir, regression_csv,
                                                  monkeypatch):
    import trainwise.run_record

    fail_nth(monkeypatch, trainwise.run_record, "write_atomic", 1, errno.ENOSPC)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(small_config(regression_csv, epochs=3)))
    result = invoke("train", config, "--runs-dir", runs_dir, "--quiet")
    assert result.exit_code == 2, result.output
    assert "could not write" in result.output and "Traceback" not in result.output
    run = only_run(runs_dir)
    assert recorded(run, runs_dir)[0]["status"] == "failed"
    assert load_checkpoint(run / "checkpoints" / "last.pt")["train_state"]["epoch"] == 3


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_failing_record_write_is_a_clear_error(regression_csv, runs_dir, monkeypatch, code):
    import trainwise.tracking.run_dir as run_dir_module

    fail_nth(monkeypatch, run_dir_module, "write_json_atomic", 1, code,
             when=lambda path, data: path.name == "history.json")
    with pytest.raises(UserError, match="could not write .*history.json"):
        trainwise.fit(small_config(regression_csv, epochs=3), runs_dir=runs_dir, progress=False)
    run = only_run(runs_dir)
    assert recorded(run, runs_dir)[1]["status"] == "failed"
    assert (run / "checkpoints" / "last.pt").is_file()
    assert not list(run.rglob("*.tmp"))
