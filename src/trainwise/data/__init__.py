"""Data: read a table, clean it, split it, and fit preprocessing on the training split only."""

from trainwise.data.datasets import BUNDLED_DATASETS, load_bundled
from trainwise.data.prepare import PreparedData, prepare_data
from trainwise.data.preprocess import Preprocessor
from trainwise.data.read import read_table

__all__ = [
    "BUNDLED_DATASETS",
    "PreparedData",
    "Preprocessor",
    "load_bundled",
    "prepare_data",
    "read_table",
]
