"""The tasks ``task.type`` can name. Adding a task: subclass ``tasks.base.Task`` and add an
instance here (its ``name`` is the config's value)."""

from __future__ import annotations

from trainwise.tasks.base import Task
from trainwise.tasks.classification import Classification
from trainwise.tasks.probabilistic.task import ProbabilisticRegression
from trainwise.tasks.regression import Regression
from trainwise.tasks.segmentation import Segmentation

TASKS: dict[str, Task] = {task.name: task for task in (Regression(), Classification(),
                                                       ProbabilisticRegression(),
                                                       Segmentation())}


def task_for(name: str) -> Task:
    """The task registered as ``name`` (a validated ``task.type``)."""
    return TASKS[name]
