"""A run's data, model and config in a few human lines, for ``trainwise show``."""

from __future__ import annotations

# data_summary.json keys shown by their own lines below; the rest follow generically.
SHOWN_DATA_KEYS = {"source", "target", "task", "rows", "rows_read", "numeric_columns",
                   "categorical_columns", "n_features", "missing_by_column",
                   "missing_handling", "warnings", "streaming"}
MAX_ITEMS = 8  # of a list or mapping, before "… and N more"


def data_lines(summary: dict) -> list[str]:
    """E.g. ``auto_mpg -> mpg (regression)``, ``rows: train 238 · val 80 · test 80 ...``."""
    lines = [f"{summary.get('source')} -> {summary.get('target')} ({summary.get('task')})"]
    rows = summary.get("rows")
    if isinstance(rows, dict):
        read = f" ({summary['rows_read']:,} read)" if summary.get("rows_read") else ""
        lines.append("rows: " + " · ".join(f"{split} {count:,}" for split, count in rows.items())
                     + read)
    numeric, categorical = summary.get("numeric_columns"), summary.get("categorical_columns")
    if numeric is not None or categorical:
        parts = [f"{len(numeric or [])} numeric"]
        if categorical:
            parts.append(f"{len(categorical)} categorical ("
                         + ", ".join(f"{name}: {len(values)} values"
                                     for name, values in categorical.items()) + ")")
        features = summary.get("n_features")
        lines.append(f"features: {features} from " + ", ".join(parts) if features
                     else "columns: " + ", ".join(parts))
    if summary.get("missing_by_column"):
        lines.append(f"missing: {human(summary['missing_by_column'])} "
                     f"({summary.get('missing_handling', 'handled')})")
    for key, value in summary.items():
        if key not in SHOWN_DATA_KEYS and value not in (None, {}, [], ""):
            lines.append(f"{key.replace('_', ' ')}: {human(value)}")
    lines += [f"WARNING {text}" for text in summary.get("warnings", [])]
    return lines


def model_lines(summary: dict, model_config: dict) -> list[str]:
    """E.g. ``mlp [32, 32], input (9,): 1,409 parameters (all trainable), 5 layers``."""
    name = model_config.get("name", "model")
    shape = ", ".join(str(size) for size in summary.get("input_shape", [])[1:])
    total, trainable = summary.get("total_params", 0), summary.get("trainable_params", 0)
    trains = "all trainable" if total == trainable else f"{trainable:,} trainable"
    size = f" {model_config['hidden']}" if name == "mlp" and model_config.get("hidden") else ""
    return [f"{name}{size}, input ({shape},): {total:,} parameters ({trains}), "
            f"{len(summary.get('layers', []))} layers (--model shows each)"]


def print_config(raw: dict, console, full: bool) -> None:
    """The whole config with ``full``; else only the keys that differ from the defaults."""
    from trainwise.yaml_io import dump_yaml

    if full:
        console.print("[bold]Config[/bold]")
        console.print(dump_yaml(raw, sort_keys=False), highlight=False, markup=False)
        return
    changed = changed_from_defaults(raw)
    if changed is None:
        console.print("[bold]Config[/bold]: `--config` prints it", highlight=False)
        return
    console.print("[bold]Config[/bold] (what differs from the defaults; --config prints all)")
    for key, value in changed.items():
        console.print(f"  {key}: {human(value)}", highlight=False, markup=False)


def changed_from_defaults(raw: dict) -> dict | None:
    """Dotted keys of ``raw`` whose values differ from a default config of the same data and
    task; None when no default can be built to compare with."""
    from trainwise.config.dotted import flatten
    from trainwise.config.load import load_config

    data, task = raw.get("data", {}), raw.get("task", {})
    minimal = {"data": {key: data[key] for key in ("kind", "source", "target", "raster")
                        if key in data},
               "task": {"type": task.get("type", "regression")}}
    try:
        default = load_config(minimal).model_dump(mode="json")
    except Exception:  # noqa: BLE001 -- a config the defaults cannot complete: show it all
        return None
    ours, theirs = flatten(raw), flatten(default)
    return {key: value for key, value in ours.items()
            if theirs.get(key, object()) != value and key not in ("data.source",)}


def human(value) -> str:
    """A value as a person reads it: ``a 1 · b 2`` for a mapping, ``x, y`` for a list."""
    if isinstance(value, dict):
        items = [f"{key} {human(item)}" for key, item in value.items()]
        return " · ".join(_capped(items)) if items else "none"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_capped([human(item) for item in value])) + "]"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    return str(value)


def _capped(items: list[str]) -> list[str]:
    if len(items) <= MAX_ITEMS:
        return items
    return [*items[:MAX_ITEMS], f"… and {len(items) - MAX_ITEMS} more"]
