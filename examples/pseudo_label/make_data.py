"""Write the digits example's tables: a training file with 90 % of its targets left empty,
and fully labelled validation and test files.

Usage:
    python examples/pseudo_label/make_data.py [--seed 0] [--labelled 0.1] [--out DIR]

The split is stratified by digit: test 20 %, validation 10 %, training 70 % (1,257 rows), of
which ``--labelled`` keep their digit (stratified too, so every digit has labelled rows) and
the rest get an empty ``digit`` cell: trainwise reads those as unlabelled rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from trainwise.data.datasets import load_bundled

HERE = Path(__file__).parent
TARGET = "digit"
TEST_SHARE = 0.2
VAL_SHARE = 0.1


def split_tables(seed: int, labelled: float) -> dict[str, pd.DataFrame]:
    """Return ``{"train", "val", "test"}`` tables; train's unlabelled rows have no digit.

    Args:
        seed: decides the split and which training rows keep their label.
        labelled: the share of training rows that keep their digit.

    Returns:
        The three tables, in the bundled dataset's column order.
    """
    frame = load_bundled("digits")
    rest, test = train_test_split(frame, test_size=TEST_SHARE, random_state=seed,
                                  stratify=frame[TARGET])
    train, val = train_test_split(rest, test_size=VAL_SHARE / (1 - TEST_SHARE),
                                  random_state=seed + 1, stratify=rest[TARGET])
    keep, _ = train_test_split(train.index, train_size=labelled, random_state=seed + 2,
                               stratify=train[TARGET])
    train = train.copy()
    train.loc[~train.index.isin(keep), TARGET] = None
    return {"train": train, "val": val, "test": test}


def write_tables(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    """Write ``train.csv``, ``val.csv`` and ``test.csv`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(folder / f"{name}.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--labelled", type=float, default=0.1)
    parser.add_argument("--out", type=Path, default=HERE / "data")
    args = parser.parse_args()
    tables = split_tables(args.seed, args.labelled)
    write_tables(tables, args.out)
    train = tables["train"]
    print(f"{args.out}: train {len(train)} rows ({train[TARGET].notna().sum()} labelled), "
          f"val {len(tables['val'])}, test {len(tables['test'])}")


if __name__ == "__main__":
    main()
