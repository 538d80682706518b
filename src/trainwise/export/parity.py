"""The check after every export: the exported model, loaded back as a consumer loads it,
against trainwise's own ``Run.predict`` on the same raw inputs, in one batch of all of them
and in a batch of one (the batch axis is dynamic, so both must work from one file).

Tolerance: ``|exported - trainwise| <= ATOL + RTOL * |trainwise|`` per value. Both sides
compute in float32, but not in the same order: trainwise standardises in float64 and casts
to float32, the graph standardises in float32, and un-scaling a target of size 100 alone
moves the last float32 bit by ~1e-5. An absolute 1e-5 everywhere would fail honest exports
of large targets; the relative term is one part in 100,000 of the value.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from trainwise.errors import UnseenCategoryWarning
from trainwise.export.inputs import encode_rows
from trainwise.run import Run

ATOL = 1e-5
RTOL = 1e-5


@dataclass
class Parity:
    """How closely the exported model reproduced ``Run.predict``."""

    source: str  # which inputs: "the test split's 60 rows of data.source '...'"
    rows: int
    max_abs: dict[str, float]  # output name -> largest |exported - trainwise|
    passed: bool

    def describe(self) -> str:
        differences = ", ".join(f"{value:.2g} ({name})" for name, value in self.max_abs.items())
        verdict = "within" if self.passed else "BEYOND"
        return (f"checked against Run.predict on {self.source}, as one batch and a batch of "
                f"one: max abs difference {differences}, {verdict} {ATOL:g} + {RTOL:g}·|value|")


def graph_inputs(run: Run, raw, source: str) -> np.ndarray:
    """Raw inputs as the exported graph takes them (float32, see ``export.inputs``)."""
    if run.config.data.kind == "tabular":
        return encode_rows(raw, run.preprocessor, source)
    return np.ascontiguousarray(raw.samples, dtype=np.float32)


def expected_outputs(run: Run, raw, source: str) -> dict[str, np.ndarray]:
    """``Run.predict``'s columns, by the exported output they correspond to."""
    with warnings.catch_warnings():
        # Unseen categories encode as no category on both sides: that is what is compared.
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        predicted = run.predict(raw, source, unseen_categories="warn")
    prep = run.preprocessor
    column = f"{prep.target}_pred"
    if run.task.probabilistic:
        return {"mean": predicted[column].to_numpy(),
                "variance": predicted[f"{column}_variance"].to_numpy()}
    if prep.task == "classification":
        return {"probabilities": predicted[[f"prob_{name}" for name in prep.classes]].to_numpy()}
    return {"prediction": predicted[column].to_numpy()}


def check_parity(run_exported: Callable[[np.ndarray], dict], inputs: np.ndarray,
                 expected: dict[str, np.ndarray], source: str) -> Parity:
    """Compare the exported model's outputs with ``expected`` (``expected_outputs``)."""
    whole, first = run_exported(inputs), run_exported(inputs[:1])
    max_abs, passed = {}, True
    for name, want in expected.items():
        want = np.asarray(want, dtype=np.float64)
        for got, reference in ((whole[name], want), (first[name], want[:1])):
            difference = np.abs(np.asarray(got, dtype=np.float64) - reference)
            max_abs[name] = max(max_abs.get(name, 0.0), float(difference.max(initial=0.0)))
            passed &= bool(np.all(difference <= ATOL + RTOL * np.abs(reference)))
    return Parity(source, len(inputs), max_abs, passed)
