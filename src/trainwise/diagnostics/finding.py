"""A finding: one thing the training curves say, in plain words, with evidence and advice."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Severity = Literal["info", "warning", "problem"]
SEVERITY_ORDER = {"problem": 0, "warning": 1, "info": 2}


@dataclass
class Finding:
    """Plain data, saved as JSON in ``findings.json`` and shown by the CLI, report and dashboard.

    Attributes:
        kind: a stable identifier, e.g. "overfitting", "lr_too_high", "good_fit".
        severity: "problem" (the result is not trustworthy), "warning" (worth changing
            something), or "info" (worth knowing; a good fit is info).
        title: one line, e.g. "Over-fitting from epoch 85".
        message: a few sentences in plain words: what the curves show and why it matters.
        epochs: the epochs it concerns as ``[first, last]`` (empty when it is the whole run).
        evidence: the numbers behind it, by name.
        advice: concrete changes, config keys where possible ("model.dropout: 0.1-0.3").

    Example:
        >>> Finding("good_fit", "info", "Good fit", "Both curves settled close together.").kind
        'good_fit'
    """

    kind: str
    severity: Severity
    title: str
    message: str
    epochs: list[int] = field(default_factory=list)
    evidence: dict[str, float | int | str | None] = field(default_factory=dict)
    advice: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Finding:
        return cls(**data)
