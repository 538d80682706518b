"""Read a CSV or Parquet file, or a bundled dataset, into a DataFrame."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from trainwise.data.datasets import BUNDLED_DATASETS, load_bundled
from trainwise.errors import UserError

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
PARQUET_SUFFIXES = (".parquet", ".pq")
PARQUET_MAGIC = b"PAR1"  # the first (and last) four bytes of every Parquet file


def read_table(source: str, field: str = "data.source", na_values: list[str] = ()) -> pd.DataFrame:
    """Read ``source`` (a file path or a bundled dataset name) as a DataFrame.

    Args:
        source: a .csv/.parquet path, or a name from ``trainwise datasets``.
        field: the config field (or CLI option) the source came from, for error messages.
        na_values: extra strings to read as missing values.

    Raises:
        UserError: the file does not exist, cannot be parsed, or the name is unknown.
    """
    path = Path(source)
    if path.suffix.lower() in TABLE_SUFFIXES or path.exists():
        return _read_file(path, field, list(na_values))
    if source in BUNDLED_DATASETS:
        frame = load_bundled(source)
        return frame.replace(list(na_values), pd.NA) if na_values else frame
    if "/" in source or "." in source:
        raise UserError(f"{field}: file '{source}' does not exist; check the path "
                        "(relative paths are read from the config file's folder)")
    raise UserError(f"{field}: '{source}' is neither a file nor a bundled dataset; bundled "
                    f"datasets are: {', '.join(BUNDLED_DATASETS)} (see `trainwise datasets`)")


def _read_file(path: Path, field: str, na_values: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise UserError(f"{field}: file '{path}' does not exist; check the path "
                        "(relative paths are read from the config file's folder)")
    kind = table_format(path)
    try:
        if kind == "Parquet":
            frame = pd.read_parquet(path)
            frame = frame.replace(na_values, pd.NA) if na_values else frame
        else:
            frame = _read_csv(path, field, na_values)
    # UnicodeDecodeError and pandas' EmptyDataError are ValueErrors.
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise UserError(f"{field}: could not read '{path}' as a {kind} table: "
                        f"{_first_line(err)}. Check that the file is complete and in that "
                        f"format{_format_hint(kind)}.") from None
    _refuse_duplicated_columns(list(frame.columns), path, field)
    return frame


def table_format(path: Path) -> str:
    """'Parquet' for a .parquet/.pq suffix or a file starting with Parquet's magic bytes,
    else 'CSV' (.csv, .tsv, .txt...: text with a header line)."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return "Parquet"
    with open(path, "rb") as handle:
        return "Parquet" if handle.read(4) == PARQUET_MAGIC else "CSV"


def _read_csv(path: Path, field: str, na_values: list[str]) -> pd.DataFrame:
    separator = "\t" if path.suffix.lower() == ".tsv" else ","
    # pandas renames a repeated header name ('a', 'a' -> 'a', 'a.1') without a word, so the
    # header is read as it is written (no missing-value parsing) to find repeats first.
    header = pd.read_csv(path, sep=separator, header=None, nrows=1, dtype=str,
                         keep_default_na=False)
    _refuse_duplicated_columns(list(header.iloc[0]) if len(header) else [], path, field)
    return pd.read_csv(path, sep=separator, na_values=na_values or None)


def _refuse_duplicated_columns(columns: list, path: Path, field: str) -> None:
    # Empty header cells are not names: pandas calls them 'Unnamed: 3', each its own.
    counts = pd.Series([str(column) for column in columns if str(column).strip()],
                       dtype=object).value_counts()
    repeated = counts[counts > 1]
    if not repeated.empty:
        listed = ", ".join(f"'{name}' ({count} times)" for name, count in repeated.items())
        raise UserError(f"{field}: '{path}' has the column name(s) {listed} more than once in "
                        "its header, so a column would be silently renamed or lost. Give each "
                        "column its own name in the file's header.")


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _format_hint(kind: str) -> str:
    if kind == "CSV":
        return (" (comma-separated, tab-separated for .tsv, with one header line, the same "
                "number of fields on every line, and quotes closed)")
    return " (a Parquet file written whole, e.g. by pandas' to_parquet)"


def fingerprint(frame: pd.DataFrame) -> str:
    """A short content hash of a table: same rows and columns, same fingerprint."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    return digest.hexdigest()[:16]
