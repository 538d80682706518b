"""The two seams (docs/design.md): every input kind and task the config can name is
registered, every registered one is nameable, and each keeps its contract."""

from __future__ import annotations

import inspect
import typing

import numpy as np
import pytest

from trainwise.config.schema import DataConfig, TaskConfig
from trainwise.inputs.base import InputKind
from trainwise.inputs.registry import INPUT_KINDS, input_kind_for
from trainwise.tasks.base import Task
from trainwise.tasks.registry import TASKS, task_for


def literal_values(model, field: str) -> set[str]:
    return set(typing.get_args(model.model_fields[field].annotation))


def test_the_config_names_exactly_the_registered_input_kinds_and_tasks():
    assert literal_values(DataConfig, "kind") == set(INPUT_KINDS)
    assert literal_values(TaskConfig, "type") == set(TASKS)


@pytest.mark.parametrize("name", sorted(INPUT_KINDS))
def test_every_input_kind_provides_the_whole_contract(name):
    kind = input_kind_for(name)
    assert isinstance(kind, InputKind) and kind.name == name
    required = [n for n, member in vars(InputKind).items()
                if inspect.isfunction(member) and not n.startswith("_") and n != "validation"]
    missing = [n for n in required if getattr(type(kind), n) is getattr(InputKind, n)]
    assert not missing, f"input kind {name} does not implement {missing}"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_predicts_and_scores(name):
    task = task_for(name)
    assert isinstance(task, Task) and task.name == name
    assert task.running_metric in ("mae", "accuracy", "pixel_accuracy")
    overrides_rows = type(task).prediction_rows is not Task.prediction_rows
    assert type(task).predict is not Task.predict
    assert overrides_rows or type(task).evaluate_split is not Task.evaluate_split


def test_a_sample_shape_that_is_not_a_feature_vector_is_refused_by_the_mlp():
    from trainwise.config.schema import ModelConfig
    from trainwise.errors import UserError
    from trainwise.models.build import build_model

    assert build_model(ModelConfig(hidden=[4]), (3,), 1)(
        __import__("torch").zeros(2, 3)).shape == (2, 1)
    with pytest.raises(UserError, match=r"shaped \(2, 8, 8\)"):
        build_model(ModelConfig(hidden=[4]), (2, 8, 8), 1)


def test_the_tabular_kind_reads_a_run_back_through_its_preprocessing(tmp_path):
    import pandas as pd

    from trainwise.data.preprocess import Preprocessor

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "c": ["x", "y", "x"], "y": [0.0, 1.0, 2.0]})
    prep = Preprocessor.fit(frame, ["a"], ["c"], "y", "regression")
    tabular = input_kind_for("tabular")
    restored = tabular.load_preprocessing(prep.to_dict())
    assert tabular.input_shape(restored) == (3,)  # a, c=x, c=y
    features = tabular.features(restored, frame, "rows", "warn")
    assert features.shape == (3, 3) and np.isfinite(features).all()
    assert np.allclose(restored.inverse_target(tabular.targets(restored, frame, "rows")),
                       frame["y"], atol=1e-6)
