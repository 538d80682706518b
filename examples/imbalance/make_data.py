"""Write breast_cancer_rare.csv: scikit-learn's breast cancer table with malignant made rare.

Keeps every benign tumour and a random 5 % of the malignant ones (11 of 212, seed 0), so the
minority is about 3 % of the rows. The configs beside this file train on it.

Run: python examples/imbalance/make_data.py [--keep 0.05] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trainwise.data.datasets import load_bundled

HERE = Path(__file__).resolve().parent
MINORITY = "malignant"


def make_rare(keep: float, seed: int):
    """The bundled breast cancer table with only ``keep`` of the malignant rows (at least 2).

    Args:
        keep: share of the malignant rows kept.
        seed: which malignant rows are kept.

    Returns:
        The table, rows in their original order.
    """
    frame = load_bundled("breast_cancer")
    minority = frame[frame["diagnosis"] == MINORITY]
    kept = minority.sample(n=max(2, round(keep * len(minority))), random_state=seed)
    return frame[(frame["diagnosis"] != MINORITY) | frame.index.isin(kept.index)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=float, default=0.05, help="share of malignant rows kept")
    parser.add_argument("--seed", type=int, default=0, help="which malignant rows are kept")
    parser.add_argument("--output", type=Path, default=HERE / "breast_cancer_rare.csv")
    args = parser.parse_args()
    frame = make_rare(args.keep, args.seed)
    frame.to_csv(args.output, index=False)
    counts = frame["diagnosis"].value_counts().to_dict()
    print(f"wrote {args.output}: {len(frame)} rows, {counts}")


if __name__ == "__main__":
    main()
