"""Progress that fits where the run is: a bar in a terminal, a live curve in a Jupyter
notebook, and one plain line every few epochs in a log file or CI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tqdm.auto import tqdm

from trainwise.callbacks.loggers import RunLogger
from trainwise.callbacks.notebook_curve import NotebookCurve, in_notebook

# Off a terminal (CI logs, files) print about this many lines for a whole run.
LOG_LINES_PER_RUN = 10


class ProgressBar(RunLogger):
    """Shows the run's progress once per epoch (never per batch: no host syncs).

    Where: a Jupyter kernel gets a live loss curve (``NotebookCurve``); a terminal a tqdm
    bar; anything else (a log file, CI, where ``$CI`` is set even on a pseudo-terminal,
    because carriage returns make a log unreadable) a plain line every ``every`` epochs.

    Args:
        keys: history keys to show next to the bar.
        stream: where to write; a non-terminal gets periodic plain lines instead of a bar.
        every: epochs per plain line; None: about ``LOG_LINES_PER_RUN`` lines per run.
    """

    name = "the notebook display"

    def __init__(self, keys: tuple[str, ...] = ("loss", "val_loss"), stream=None,
                 every: int | None = None):
        self.keys = keys
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.bar = self.curve = None

    def on_train_begin(self, trainer) -> None:
        if in_notebook():
            self.curve = NotebookCurve(self.keys, trainer.epochs)
        elif self._is_terminal():
            self.bar = tqdm(total=trainer.epochs, initial=trainer.state.epoch, unit="epoch",
                            file=self.stream, dynamic_ncols=True, leave=True)

    def on_epoch_end(self, trainer, record: dict) -> None:
        if self.curve is not None:
            self.curve.update(trainer.state.history)
            return
        shown = {key: f"{record[key]:.4g}" for key in self.keys if key in record}
        if self.bar is not None:
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(1)
            return
        every = self.every or max(1, trainer.epochs // LOG_LINES_PER_RUN)
        if record["epoch"] % every == 0 or record["epoch"] == trainer.epochs:
            fields = "  ".join(f"{key} {value}" for key, value in shown.items())
            print(f"epoch {record['epoch']}/{trainer.epochs}  {fields}", file=self.stream,
                  flush=True)

    def on_train_end(self, trainer) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.curve is not None:  # the last epoch, even if shown under the interval
            self.curve.finish(trainer.state.history, None)
        if trainer.state.stop_reason:
            print(f"Stopped at epoch {trainer.state.epoch}: {trainer.state.stop_reason}",
                  file=self.stream)

    def log_record(self, run_path: Path) -> None:
        """In a notebook, the final frame is the record's loss plot: no drawing of our own."""
        if self.curve is not None:
            self.curve.finish([], run_path / "plots" / "loss.png")
            self.curve = None

    def _is_terminal(self) -> bool:
        return (hasattr(self.stream, "isatty") and self.stream.isatty()
                and not os.environ.get("CI"))
