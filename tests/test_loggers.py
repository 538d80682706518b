"""tracking.loggers: TensorBoard event files and an MLflow run, read back with each tool's
own reader; a missing extra refused before any run folder exists."""

from __future__ import annotations

import json
import sys

import pytest

import trainwise
from tests.helpers import small_config
from trainwise.callbacks.loggers import flat_config
from trainwise.errors import UserError
from trainwise.resume_run import resume


def _scalars(folder, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


@pytest.mark.slow
def test_tensorboard_scalars_per_epoch_equal_the_history(regression_csv, runs_dir):
    config = {**small_config(regression_csv), "tracking": {"loggers": ["tensorboard"]}}
    run = trainwise.fit(config, runs_dir=runs_dir, progress=False)

    folder = run.path / "tensorboard"
    for key in ("loss", "val_loss", "mae", "val_mae"):
        steps, values = zip(*_scalars(folder, key))
        assert list(steps) == [record["epoch"] for record in run.history]
        assert list(values) == pytest.approx([record[key] for record in run.history], rel=1e-6)
    steps = _scalars(folder / "steps", "step_loss")
    assert [step for step, _ in steps] == list(range(1, len(steps) + 1))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    final = EventAccumulator(str(folder), size_guidance={"images": 0})
    final.Reload()
    assert final.Scalars("final/test_mae")[0].value == pytest.approx(run.metrics["test"]["mae"])
    assert "plots/loss" in final.Tags()["images"]


def test_a_resumed_run_continues_the_tensorboard_curves(regression_csv, runs_dir):
    config = {**small_config(regression_csv, epochs=3), "tracking": {"loggers": ["tensorboard"]}}
    run = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    resumed = resume(run.path, epochs=5, runs_dir=runs_dir, progress=False)

    assert [step for step, _ in _scalars(resumed.path / "tensorboard", "loss")] == [1, 2, 3, 4, 5]


@pytest.mark.slow
# MLflow's own SQLAlchemy queries use a loader SQLAlchemy 2.1 deprecates (MLflow's to fix).
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_mlflow_run_holds_metrics_params_and_artifacts(regression_csv, runs_dir, tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = {**small_config(regression_csv, epochs=3),
              "tracking": {"loggers": ["mlflow"], "mlflow_uri": uri}}
    run = trainwise.fit(config, runs_dir=runs_dir, progress=False)
    resumed = resume(run.path, epochs=4, runs_dir=runs_dir, progress=False)

    client = MlflowClient(uri)
    run_id = json.loads((run.path / "mlflow_run.json").read_text())["run_id"]
    logged = client.get_run(run_id)
    assert client.get_experiment(logged.info.experiment_id).name == "test"
    assert logged.info.status == "FINISHED"
    history = sorted(client.get_metric_history(run_id, "val_loss"), key=lambda m: m.step)
    assert [m.step for m in history] == [r["epoch"] for r in resumed.history]
    assert [m.value for m in history] == pytest.approx([r["val_loss"] for r in resumed.history])
    assert logged.data.metrics["test_mae"] == pytest.approx(resumed.metrics["test"]["mae"])
    assert logged.data.params["train.lr"] == "0.01"
    assert logged.data.params["model.hidden"] == "[16]"
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "record", "plots", "report.html"} <= artifacts
    assert "plots/loss.png" in {a.path for a in client.list_artifacts(run_id, "plots")}


@pytest.mark.parametrize(("logger", "module"), [("tensorboard", "tensorboard"),
                                                ("mlflow", "mlflow")])
def test_a_missing_extra_is_refused_before_the_run_folder(regression_csv, runs_dir, monkeypatch,
                                                          logger, module):
    for name in [name for name in sys.modules if name.split(".")[0] == module]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError
    config = {**small_config(regression_csv), "tracking": {"loggers": [logger]}}

    with pytest.raises(UserError, match=rf"pip install 'trainwise\[{logger}\]'"):
        trainwise.fit(config, runs_dir=runs_dir, progress=False)
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_a_missing_extra_exits_2_on_the_command_line(regression_csv, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from trainwise.cli.main import cli
    from trainwise.yaml_io import dump_yaml

    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    path = tmp_path / "config.yaml"
    path.write_text(dump_yaml({**small_config(regression_csv),
                               "tracking": {"loggers": ["mlflow"]}}))
    result = CliRunner().invoke(cli, ["train", str(path), "--runs-dir", str(tmp_path / "runs")])

    assert result.exit_code == 2, result.output
    assert "trainwise[mlflow]" in result.output


def test_flat_config_makes_plain_values():
    assert flat_config({"train": {"lr": 0.1, "param_groups": []}, "model": {"hidden": [8]},
                        "sweep": None}) == {"train.lr": 0.1, "train.param_groups": "[]",
                                            "model.hidden": "[8]", "sweep": "None"}
