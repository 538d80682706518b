"""Log a run to MLflow: the flattened config as parameters, every history key per epoch,
each optimizer step's loss, and at the end the final metrics and the record's files (config,
metrics, findings, plots, the HTML report) as artifacts.

Through ``MlflowClient`` and the run's id, never ``mlflow.start_run``: no process-wide
"active run" that a notebook's own MLflow use could collide with.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from trainwise.atomic import write_json_atomic
from trainwise.callbacks.loggers import RunLogger, epoch_steps, final_numbers, flat_config
from trainwise.yaml_io import load_yaml

RUN_FILE = "mlflow_run.json"  # in the run folder: the MLflow run a resume continues
SEND_EVERY_S = 5.0  # metrics wait at most this long: a write per epoch would cost more than
#                     the epoch on small data (a SQLite transaction, or an HTTP request)
BATCH_METRICS, BATCH_PARAMS = 1000, 100  # the most MLflow takes in one log_batch
RECORD_FILES = ("config.yaml", "metrics.json", "findings.json", "status.json",
                "data_summary.json")


class MLflowLogger(RunLogger):
    """Mirrors the run into one MLflow run, created with the run and continued on resume.

    Args:
        uri: the tracking URI.
        experiment: the experiment's name (created when missing).
        run_path: the run folder.
    """

    name = "MLflow"

    def __init__(self, uri: str, experiment: str, run_path: Path):
        self.uri, self.experiment, self.run_path = uri, experiment, Path(run_path)
        self.client = self.run_id = None
        self._pending, self._sent = [], 0.0
        self._logged_epoch = self._logged_step = 0  # what MLflow already holds (resume)

    def on_train_begin(self, trainer) -> None:
        from mlflow import MlflowClient

        self.client = MlflowClient(self.uri)
        saved = self.run_path / RUN_FILE
        if saved.exists():  # a resume: the same MLflow run, running again
            self.run_id = json.loads(saved.read_text())["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            self._logged_epoch = self._last_step("loss")
            self._logged_step = self._last_step("step_loss")
        else:
            self.run_id = self._create_run()
            write_json_atomic(saved, {"run_id": self.run_id, "tracking_uri": self.uri})
            self._log_params()
            self.client.log_artifact(self.run_id, str(self.run_path / "config.yaml"))
        self._sent = time.monotonic()

    def on_epoch_end(self, trainer, record: dict) -> None:
        from mlflow.entities import Metric

        epoch, now = record["epoch"], int(time.time() * 1000)
        if epoch > self._logged_epoch:  # epochs logged before a crash come again: once is enough
            self._pending += [Metric(key, value, now, epoch) for key, value in record.items()
                              if key != "epoch" and value is not None]
        self._pending += [Metric("step_loss", row["loss"], now, row["step"])
                          for row in epoch_steps(trainer.state.batch_history, epoch)
                          if row["step"] > self._logged_step]
        if time.monotonic() - self._sent > SEND_EVERY_S:
            self._send()

    def on_train_end(self, trainer) -> None:
        self._send()
        state = trainer.state
        self.client.set_terminated(self.run_id, "KILLED" if state.interrupted else "FINISHED")

    def log_record(self, run_path: Path) -> None:
        """Final metrics (``test_mae`` ...) and the record's files as artifacts."""
        from mlflow.entities import Metric

        status = json.loads((run_path / "status.json").read_text())
        metrics = run_path / "metrics.json"
        numbers = final_numbers(json.loads(metrics.read_text()) if metrics.exists() else {})
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(key, value, now, status["epochs"])
                                                    for key, value in numbers.items()])
        for name in RECORD_FILES:
            if (run_path / name).exists():
                self.client.log_artifact(self.run_id, str(run_path / name), "record")
        if any((run_path / "plots").glob("*.png")):
            self.client.log_artifacts(self.run_id, str(run_path / "plots"), "plots")
            self.client.log_text(self.run_id, _report_html(run_path), "report.html")
        if status["status"] == "diverged":
            self.client.set_terminated(self.run_id, "FAILED")

    def _create_run(self) -> str:
        """A new MLflow run in the experiment (made on first use)."""
        found = self.client.get_experiment_by_name(self.experiment)
        experiment_id = (found.experiment_id if found else
                         self.client.create_experiment(self.experiment, _artifacts_at(self.uri)))
        run = self.client.create_run(experiment_id, run_name=self.run_path.name,
                                     tags={"trainwise.run_dir": str(self.run_path.resolve())})
        return run.info.run_id

    def _log_params(self) -> None:
        from mlflow.entities import Param

        params = flat_config(load_yaml((self.run_path / "config.yaml").read_text()))
        items = [Param(key, str(value)) for key, value in params.items()]
        for start in range(0, len(items), BATCH_PARAMS):
            self.client.log_batch(self.run_id, params=items[start:start + BATCH_PARAMS])

    def _send(self) -> None:
        for start in range(0, len(self._pending), BATCH_METRICS):
            self.client.log_batch(self.run_id,
                                  metrics=self._pending[start:start + BATCH_METRICS])
        self._pending, self._sent = [], time.monotonic()

    def _last_step(self, key: str) -> int:
        """The last step of ``key`` MLflow holds (0: none)."""
        return max((metric.step for metric in self.client.get_metric_history(self.run_id, key)),
                   default=0)


def _artifacts_at(uri: str) -> str | None:
    """For a SQLite store, artifacts beside its file (``mlartifacts/``); MLflow's default is
    ``./mlruns`` in whatever folder the process runs in. None: the server decides."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()


def _report_html(run_path: Path) -> str:
    """The run's HTML report (what ``trainwise report`` writes), made for MLflow only."""
    from trainwise.reports.html import render_report

    return render_report(run_path)
