"""Datasets that ship with trainwise or with its dependencies: no download at run time."""

from __future__ import annotations

from importlib import resources

import pandas as pd


def _auto_mpg() -> pd.DataFrame:
    # UCI Auto MPG (Quinlan 1993, CC BY 4.0), shipped in trainwise/datasets/.
    with resources.files("trainwise.datasets").joinpath("auto-mpg.csv").open("r") as handle:
        return pd.read_csv(handle)


def _from_sklearn(loader_name: str, target: str) -> pd.DataFrame:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader_name)(as_frame=True)
    frame = bunch.frame.copy()
    names = list(getattr(bunch, "target_names", []))
    if names and frame["target"].dtype.kind in "iu":
        # Class names read better than codes in confusion matrices and predictions.
        frame["target"] = [str(names[code]) for code in frame["target"]]
    return frame.rename(columns={"target": target})


BUNDLED_DATASETS = {
    "auto_mpg": ("398 cars: predict mpg (regression), UCI Auto MPG", _auto_mpg),
    "wine": ("178 wines, 13 measurements: predict cultivar (3 classes), scikit-learn",
             lambda: _from_sklearn("load_wine", "cultivar")),
    "breast_cancer": ("569 tumours, 30 features: malignant or benign, scikit-learn",
                      lambda: _from_sklearn("load_breast_cancer", "diagnosis")),
    "iris": ("150 flowers, 4 measurements: predict species (3 classes), scikit-learn",
             lambda: _from_sklearn("load_iris", "species")),
    "diabetes": ("442 patients, 10 features: disease progression (regression), scikit-learn",
                 lambda: _from_sklearn("load_diabetes", "progression")),
    "digits": ("1797 handwritten digits, 8x8 pixels as 64 columns: predict digit (10 classes), "
               "scikit-learn", lambda: _from_sklearn("load_digits", "digit")),
}


def load_bundled(name: str) -> pd.DataFrame:
    """Return a bundled dataset as a DataFrame; ``KeyError`` if there is none of that name."""
    return BUNDLED_DATASETS[name][1]()
