"""The diagnosis against labelled curves from real runs of every example, each fit regime on
more than one table (recorded by `python -m tests.labelled_curves.record`; no training here)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from trainwise.diagnostics import DiagnosisContext, diagnose

from tests.labelled_curves.record import REGIMES, cases

CURVES = sorted((Path(__file__).parent / "labelled_curves").glob("*.json"))
RECORDINGS = {path.stem: json.loads(path.read_text()) for path in CURVES}
LABELS = {case["name"]: case for case in cases()}  # the labels live with the cases


@pytest.mark.parametrize("name", RECORDINGS)
def test_the_diagnosis_agrees_with_the_label(name):
    recording, label = RECORDINGS[name], LABELS[name]
    findings = diagnose(recording["history"], DiagnosisContext(**recording["context"]))
    named = {finding.kind for finding in findings}
    for must in label["must"]:  # a list: any one of its kinds
        assert named & set([must] if isinstance(must, str) else must), (
            sorted(named), [finding.message for finding in findings])
    assert not named & set(label["must_not"]), sorted(named)
    good = [finding for finding in findings if finding.kind == "good_fit"]
    val = [epoch["val_loss"] for epoch in recording["history"] if "val_loss" in epoch]
    if good and val and val[-1] > 1.05 * min(val):  # the words match the curve
        assert "without turning up" not in good[0].message


def test_every_regime_is_labelled_on_at_least_two_tables_and_every_example_is_recorded():
    tables = defaultdict(set)
    for recording in RECORDINGS.values():
        if isinstance(recording["config"], dict):
            tables[recording["name"].rsplit("-", 1)[1]].add(recording["config"]["data"]["source"])
    assert set(REGIMES) <= set(tables)
    assert all(len(tables[regime]) >= 2 for regime in REGIMES), dict(tables)
    assert sorted(RECORDINGS) == sorted(LABELS)
