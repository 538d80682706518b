"""The input-kind seam: what a kind of input (a table, sensor frames, images, rasters) brings.

A run is an input kind times a model times a task (``trainwise.tasks``). The input kind owns

- ``prepare``: read the configured sources, split them with the rules that fit the kind,
  fit the preprocessing on the training split only (or reuse a run's), and return the
  ``PreparedData`` the session trains on (arrays or a stream, a summary, a fingerprint);
- ``input_shape``: the shape of one sample as the model sees it (``(features,)`` for a
  table), read from the saved preprocessing so a finished run can rebuild its model;
- ``batches``: the per-epoch batches the trainer iterates (seeded, resumable);
- ``load_preprocessing``: the preprocessing saved as JSON in the run directory;
- ``read`` / ``features`` / ``targets`` / ``identify``: raw inputs after training
  (``predict``, ``evaluate``), through the saved preprocessing, with errors that name the
  file or column.

To add one, subclass ``InputKind`` in a module (or folder) of this package and register an
instance in ``INPUT_KINDS`` (``trainwise/inputs/registry.py``); ``data.kind`` then accepts its
name. The fit loop, the run record and the CLI do not change. Sketch:

    class NpyPairs(InputKind):
        name = "npy_pairs"

        def prepare(self, cfg, fitted=None, refit_target=True):
            x, y = np.load(cfg.data.source + "/X.npy"), np.load(cfg.data.source + "/y.npy")
            ...  # split, fit scaling on the training part, return PreparedData
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import torch

    from trainwise.config.schema import Config
    from trainwise.data.prepare import PreparedData
    from trainwise.data.preprocess import Preprocessor


class InputKind:
    """Base of every input kind; a subclass provides every method but ``validation``."""

    name: ClassVar[str]

    def prepare(self, cfg: Config, fitted: Preprocessor | None = None,
                refit_target: bool = True) -> PreparedData:
        """Read, split and preprocess the configured data.

        Args:
            cfg: the validated config.
            fitted: preprocessing to reuse instead of fitting it (a resume, ``init_from``).
            refit_target: with ``fitted``, fit the target side anew (transfer learning).

        Raises:
            UserError: the data cannot be used as configured (naming the file and field).
        """
        raise NotImplementedError

    def input_shape(self, prep: Preprocessor) -> tuple[int, ...]:
        """One sample's shape as the model sees it, without the batch dimension."""
        raise NotImplementedError

    def batches(self, data: PreparedData, cfg: Config, device: torch.device):
        """The trainer's batches: an object with ``len()``, ``epoch(n)`` and resumable state."""
        raise NotImplementedError

    def validation(self, data: PreparedData, device: torch.device):
        """The validation split as ``(inputs, targets)`` tensors on ``device``, or None.

        The default suits every kind whose validation split fits in memory as arrays.
        """
        import torch

        if not data.has_validation:
            return None
        return tuple(torch.from_numpy(array).to(device) for array in data.arrays["val"])

    def load_preprocessing(self, saved: dict) -> Preprocessor:
        """The preprocessing from its JSON form (preprocessing.json)."""
        raise NotImplementedError

    def read(self, path: str, field: str, cfg: Config, labelled: bool = False) -> Any:
        """Raw inputs from a file or folder given after training (``--input``, ``--data``),
        read as the run ``cfg`` read its data; ``labelled``: their labels are needed too."""
        raise NotImplementedError

    def features(self, prep: Preprocessor, raw: Any, source: str,
                 unseen_categories: str) -> np.ndarray:
        """The model's inputs for raw inputs, through the saved preprocessing."""
        raise NotImplementedError

    def targets(self, prep: Preprocessor, raw: Any, source: str) -> np.ndarray:
        """The encoded targets of labelled raw inputs (``evaluate``)."""
        raise NotImplementedError

    def index(self, raw: Any):
        """The labels of the raw samples, for the predictions' index."""
        raise NotImplementedError

    def identify(self, raw: Any) -> pd.DataFrame:
        """Columns that say which input each prediction is for (the rows themselves for a
        table; file and frame for arrays), written beside the predictions."""
        raise NotImplementedError
