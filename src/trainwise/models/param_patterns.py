"""Select a model's parameters by name with shell-style patterns (``layers.0.*``).

Freezing, gradual unfreezing and per-group learning rates all name parameters this way, so
they share one matcher and one error: a pattern that matches nothing is almost always a typo,
and the fix is to see the real names.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from trainwise.errors import UserError

# Enough names to recognise the model's layout without flooding the terminal.
NAMES_SHOWN = 30


def matching_names(names: list[str], pattern: str) -> list[str]:
    """The names that ``pattern`` matches (``fnmatch`` rules, case-sensitive), in model order.

    Args:
        names: parameter names, e.g. from ``model.named_parameters()``.
        pattern: ``*`` matches any text, dots included (``layers.1*`` also matches ``layers.10``).

    Returns:
        The matching names; possibly empty.
    """
    return [name for name in names if fnmatchcase(name, pattern)]


def select_parameters(names: list[str], patterns: list[str], key: str) -> list[str]:
    """Every name matched by any of ``patterns``, in model order; a dead pattern is an error.

    Args:
        names: the model's parameter names.
        patterns: shell-style patterns.
        key: the config key the patterns come from, for the error message.

    Returns:
        The selected names, each once.

    Raises:
        UserError: a pattern matches no parameter (the message lists the parameter names).
    """
    selected: set[str] = set()
    for pattern in patterns:
        found = matching_names(names, pattern)
        if not found:
            raise UserError(f"{key}: pattern '{pattern}' matches no parameter of the model. "
                            f"{describe_names(names)}. Patterns use shell rules ('*' matches "
                            "any text); fix or remove the pattern.")
        selected.update(found)
    return [name for name in names if name in selected]


def describe_names(names: list[str]) -> str:
    """``The parameters are: a, b, c`` (cut short for very large models)."""
    shown = ", ".join(names[:NAMES_SHOWN])
    more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
    return f"The parameters are: {shown}{more}"
