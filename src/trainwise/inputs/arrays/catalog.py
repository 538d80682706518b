"""Find a source's files and their labels: by sub-folder, by an index CSV, or inside the file.

A class folder layout (``SOURCE/<class>/<file>``) is what image tools and the radar tool
write; an index (``labels.csv``: ``file,label``) labels files anywhere under its folder; an
``.npz`` may carry its own per-frame ``y``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trainwise.errors import UserError

INDEX_NAME = "labels.csv"


@dataclass(frozen=True)
class SourceFile:
    path: Path
    label: object | None  # the file's label (class name or number); None: inside it, or none


def catalog(folder: Path, suffixes: tuple[str, ...], labels: str, index: str | None,
            target: str, field: str, require_labels: bool = True) -> list[SourceFile]:
    """The files of ``folder`` with their labels, sorted by path (a stable sample order).

    Args:
        folder: the source folder.
        suffixes: the file suffixes of this input kind.
        labels: ``data.labels`` (auto, folders, index, file).
        index: ``data.index``, or None for ``folder/labels.csv``.
        target: the label column's name in an index (``label`` is accepted too).
        field: the config field or option that named the folder, for messages.
        require_labels: training needs labels; predicting does not.

    Raises:
        UserError: no files, an empty class folder, or an index naming missing files.
    """
    index_path = Path(index) if index else folder / INDEX_NAME
    mode = labels
    if mode == "auto":
        mode = "index" if index_path.is_file() else "folders" if _subfolders(folder) else "file"
    if mode == "index":
        return _from_index(index_path, target, field)
    files = _files(folder, suffixes, field)
    if mode == "file" or not require_labels:
        return [SourceFile(path, None) for path in files]
    return _from_folders(folder, files, field)


def _files(folder: Path, suffixes: tuple[str, ...], field: str) -> list[Path]:
    if not folder.is_dir():
        raise UserError(f"{field}: '{folder}' is not a folder; give the folder that holds the "
                        f"{'/'.join(suffixes)} files (or an .npz file of x and y).")
    files = sorted(path for path in folder.rglob("*")
                   if path.suffix.lower() in suffixes and path.is_file()
                   and not any(part.startswith(".") for part in path.relative_to(folder).parts))
    if not files:
        raise UserError(f"{field}: '{folder}' holds no {'/'.join(suffixes)} files (searched "
                        "its sub-folders too); check the path.")
    return files


def _subfolders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir()
                  if path.is_dir() and not path.name.startswith("."))


def _from_folders(folder: Path, files: list[Path], field: str) -> list[SourceFile]:
    """One class per immediate sub-folder; every class folder must hold files."""
    loose = [path for path in files if path.parent == folder]
    if loose:
        raise UserError(f"{field}: '{loose[0]}' lies directly in '{folder}', but labels come "
                        "from sub-folders (one per class); move it into its class's folder, "
                        f"or label files with an index ({INDEX_NAME}: file,label).")
    by_class = {sub.name: [p for p in files if p.relative_to(folder).parts[0] == sub.name]
                for sub in _subfolders(folder)}
    empty = [name for name, members in by_class.items() if not members]
    if empty:
        raise UserError(f"{field}: the class folder '{folder / empty[0]}' holds no usable "
                        "files, so that class has nothing to learn from; add its files, or "
                        "remove the folder.")
    return [SourceFile(path, name) for name, members in by_class.items() for path in members]


def _from_index(index_path: Path, target: str, field: str) -> list[SourceFile]:
    if not index_path.is_file():
        raise UserError(f"data.index: '{index_path}' does not exist; give a CSV with columns "
                        "file and label, or set data.labels: folders.")
    try:
        table = pd.read_csv(index_path, dtype={"file": str})
    except (ValueError, OSError) as err:
        raise UserError(f"data.index: could not read '{index_path}' as CSV ({err}).") from None
    column = target if target in table.columns else "label"
    if "file" not in table.columns or column not in table.columns:
        raise UserError(f"data.index: '{index_path}' has columns {list(table.columns)}; it "
                        f"needs 'file' and '{target}' (or 'label').")
    entries = []
    for row, (name, label) in enumerate(zip(table["file"], table[column])):
        path = (index_path.parent / str(name)).resolve()
        if not path.is_file():
            raise UserError(f"data.index: '{index_path}' row {row} names '{name}', which does "
                            f"not exist under '{index_path.parent}'; fix or remove that row.")
        entries.append(SourceFile(path, None if pd.isna(label) else label))
    if not entries:
        raise UserError(f"data.index: '{index_path}' lists no files; add rows file,label.")
    return entries
