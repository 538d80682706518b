"""YAML read and written through libyaml when PyYAML was built with it.

The pure-Python parser and emitter take ~10-20 ms for one run's full ``config.yaml``, and a
run writes its config once and its diagnosis and plots read it again; libyaml does the same
in well under a millisecond. The C and Python classes load the same values and emit the same
text; the user's own config keeps the Python loader (``config/load.py``) for its messages.
"""

from __future__ import annotations

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load_yaml(text: str):
    """``yaml.safe_load``, faster."""
    return yaml.load(text, Loader=_LOADER)


def dump_yaml(value, **options) -> str:
    """``yaml.safe_dump(value, **options)``, faster; returns the text."""
    return yaml.dump(value, Dumper=_DUMPER, **options)
