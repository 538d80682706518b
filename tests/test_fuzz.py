"""Property-based fuzz: whatever a user writes in a config, an override or a data file, the
answer is a config / prepared data or a ``UserError``, never another exception.

Hypothesis generates the input; a crash anywhere but a UserError fails the test with the
shrunk example. Kept small (a few hundred examples in all, a few seconds each test).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trainwise.config.load import load_config, parse_overrides
from trainwise.config.schema import Config
from trainwise.data.prepare import prepare_data
from trainwise.data.read import read_table
from trainwise.errors import UserError

# TRAINWISE_FUZZ_EXAMPLES=5000 for a longer hunt; the suite keeps it short.
FUZZ = settings(max_examples=int(os.environ.get("TRAINWISE_FUZZ_EXAMPLES", "150")),
                deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _schema_keys(model, prefix: str = "") -> list[str]:
    """Every dotted key of the schema (sections and fields), so the fuzz hits real ones."""
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        annotation = field.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            keys += _schema_keys(annotation, f"{prefix}{name}.")
    return keys


SCHEMA_KEYS = _schema_keys(Config)
SECTIONS = ["data", "task", "model", "train", "sweep", "name"]

scalars = (st.none() | st.booleans() | st.integers(-10**6, 10**6)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, 0.0, -1.0,
                              "auto", "mlp", "relu", "adam", "random", "files", "none", "",
                              "classification", "regression", "y", "x.csv"])
           | st.text(max_size=12))
junk = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8) | st.sampled_from(SCHEMA_KEYS),
                                      inner, max_size=4), max_leaves=12)
field_names = st.sampled_from([key.rsplit(".", 1)[-1] for key in SCHEMA_KEYS]) | st.text(max_size=8)
sections = st.dictionaries(field_names, junk, max_size=5)
configs = st.dictionaries(st.sampled_from(SECTIONS) | st.text(max_size=6),
                          sections | junk, max_size=6)
# A mostly valid config with some keys set to anything: reaches the cross-field validators.
BASE = {"data": {"source": "auto_mpg", "target": "mpg"}}
dotted = st.sampled_from(SCHEMA_KEYS) | st.text(max_size=15)
value_text = (st.text(max_size=15) | st.sampled_from(
    ["[1,2", "{a: 1", ".nan", ".inf", "-.inf", "1e999", "2024-02-30", "!!python/object:x {}",
     "[[[[", "'", '"', "&a [*a]", "*b", "- a\n- b", "{1: [}", "auto", "0.001", "[64, 64]"]))
override_items = (st.builds(lambda key, value: f"{key}={value}", dotted, value_text)
                  | st.text(max_size=20))


def _config_or_user_error(source, overrides=None) -> None:
    try:
        load_config(source, overrides)
    except UserError as err:
        assert str(err).strip(), "a UserError needs a message"


# ----------------------------------------------------------------------------- config
@FUZZ
@given(raw=configs, overrides=st.lists(override_items, max_size=3))
@example(raw={"none": 1}, overrides=[])  # found: a key named like a pydantic type crashed
@example(raw={"data": {"source": "auto_mpg", "target": "mpg"}, "train": {"lr": float("nan")}},
         overrides=["train.lr=[1,2"])
def test_fuzz_config_dicts(raw, overrides):
    _config_or_user_error(raw, overrides)


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(SCHEMA_KEYS), junk, min_size=1, max_size=4))
def test_fuzz_valid_config_with_junk_values(changes):
    _config_or_user_error(BASE, changes)


@FUZZ
@given(overrides=st.lists(override_items, min_size=1, max_size=4))
def test_fuzz_override_strings(overrides):
    try:
        parsed = parse_overrides(overrides)
    except UserError:
        return
    assert isinstance(parsed, dict)
    _config_or_user_error(BASE, overrides)


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=100).map(
    lambda data: data.decode("latin-1")))
def test_fuzz_yaml_files(scratch, text):
    path = scratch / "config.yaml"
    path.write_bytes(text.encode("latin-1", errors="replace") if text.isascii()
                     else text.encode("utf-8", errors="surrogatepass"))
    _config_or_user_error(path)


# ----------------------------------------------------------------------------- tables
odd_cells = (st.sampled_from(["", "inf", "-inf", "nan", "NaN", "1e999", "?", "a", "b", '"',
                              '""', '"x,y"', "é", " ", "NA", "null", "\\", "1,5"])
             | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6)
             | st.floats(allow_nan=True, allow_infinity=True).map(repr))
numbers = st.integers(-5, 5).map(str) | st.floats(-1e3, 1e3).map(lambda x: f"{x:.3g}")
cells = st.one_of(numbers, numbers, st.sampled_from(["a", "b", "c"]), odd_cells)
names = st.sampled_from(["x1", "x2", "c", "y", "", "a.1", '"y"', "y ", "x1.1"]) | st.text(max_size=4)


@st.composite
def csv_texts(draw) -> str:
    """CSV text that often gets far: distinct names with a 'y' target and rows of numbers,
    with now and then a repeated name, ragged rows, quotes, inf and NaN text."""
    header = draw(st.lists(names, min_size=1, max_size=5, unique=draw(st.booleans())))
    if "y" not in header and draw(st.integers(0, 3)):
        header.append("y")
    ragged = draw(st.integers(0, 5)) == 0
    width = st.integers(len(header) - ragged, len(header) + ragged)
    rows = draw(st.lists(width.flatmap(lambda n: st.lists(cells, min_size=n, max_size=n)),
                         max_size=30))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(",".join(row) for row in [header, *rows]) + draw(
        st.sampled_from(["", newline]))


tables = csv_texts() | st.binary(max_size=80).map(lambda data: data.decode("latin-1"))


@FUZZ
@given(text=tables, task=st.sampled_from(["regression", "classification"]),
       missing=st.sampled_from(["impute", "drop"]),
       target_missing=st.sampled_from(["error", "drop"]))
def test_fuzz_table_reader_and_prepare(scratch, text, task, missing, target_missing):
    path = scratch / "table.csv"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    try:
        read_table(str(path))
        cfg = load_config({"data": {"source": str(path), "target": "y", "missing": missing,
                                    "target_missing": target_missing},
                           "task": {"type": task}, "model": {"hidden": [4]}})
        prepare_data(cfg)
    except UserError as err:
        assert str(err).strip()


@FUZZ
@given(content=st.binary(max_size=120), suffix=st.sampled_from([".csv", ".parquet", ".txt",
                                                                ".tsv"]))
def test_fuzz_random_bytes_files(scratch, content, suffix):
    path = scratch / f"bytes{suffix}"
    path.write_bytes(content)
    try:
        read_table(str(path))
    except UserError as err:
        assert str(path) in str(err)
