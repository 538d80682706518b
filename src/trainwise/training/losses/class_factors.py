"""Per-class numbers from the config (class weights, focal alpha) as one value per class."""

from __future__ import annotations

from trainwise.errors import UserError


def per_class_values(values: list[float] | dict[str, float], classes: list,
                     key: str) -> list[float]:
    """One value per class, in the order of ``classes``.

    Args:
        values: a list with one value per class, or ``{class name: value}`` (classes left out
            get 1).
        classes: the training classes, in the preprocessing's order.
        key: the config key, for the error message (e.g. ``task.class_weights``).

    Raises:
        UserError: unknown class names, or a list of the wrong length.
    """
    names = [str(name) for name in classes]
    if isinstance(values, dict):
        unknown = set(values) - set(names)
        if unknown:
            raise UserError(f"{key} names unknown classes {sorted(unknown)}; "
                            f"the classes are: {', '.join(names)}")
        return [float(values.get(name, 1.0)) for name in names]
    if len(values) != len(classes):
        raise UserError(f"{key} has {len(values)} values for {len(classes)} "
                        f"classes ({', '.join(names)}); give one per class.")
    return [float(value) for value in values]


def focal_alpha_values(alpha: float | list[float] | dict[str, float],
                       classes: list) -> list[float]:
    """``task.focal_alpha`` per class: a single ``a`` means ``[1 - a, a]`` for two classes.

    That is the focal-loss paper's alpha (``a`` for the second, "positive" class in the
    preprocessing's sorted order); with more classes a single number is ambiguous.

    Raises:
        UserError: a single number for more than two classes, or bad per-class values.
    """
    if isinstance(alpha, (int, float)):
        if len(classes) != 2:
            raise UserError(f"task.focal_alpha: a single number ({alpha}) means 1 - a for the "
                            f"first class and a for the second, so it needs two classes; this "
                            f"task has {len(classes)} ({', '.join(map(str, classes))}). Give "
                            "one factor per class, as a list or {class: factor}.")
        return [1.0 - alpha, float(alpha)]
    return per_class_values(alpha, classes, "task.focal_alpha")
