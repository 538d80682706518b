"""The base class every config section derives from, and the name check they share."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base for every section: unknown keys are errors, assignments are re-validated, and no
    number may be NaN or infinite (``.nan``, ``.inf``, ``1e999``): no setting means either."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def one_of(name: str, valid: tuple[str, ...], what: str) -> str:
    """``name`` if it is in ``valid``, else an error listing the choices for ``what``."""
    if name not in valid:
        raise ValueError(f"unknown {what} '{name}'; choose one of: {', '.join(valid)}")
    return name
