"""Read a CSV or Parquet file, or a bundled dataset, into a DataFrame."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from trainwise.data.datasets import BUNDLED_DATASETS, load_bundled
from trainwise.errors import UserError

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


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
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
            return frame.replace(na_values, pd.NA) if na_values else frame
        return pd.read_csv(path, na_values=na_values or None)
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise UserError(f"{field}: could not read '{path}' as a "
                        f"{'Parquet' if path.suffix != '.csv' else 'CSV'} table: {err}. "
                        "Check that the file is complete and in that format.") from None


def fingerprint(frame: pd.DataFrame) -> str:
    """A short content hash of a table: same rows and columns, same fingerprint."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    return digest.hexdigest()[:16]
