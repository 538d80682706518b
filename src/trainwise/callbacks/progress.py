"""A progress bar over epochs showing loss and val_loss; quiet log lines when not a terminal."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

from trainwise.callbacks.base import Callback

# Off a terminal (CI logs, files) print about this many lines for a whole run.
LOG_LINES_PER_RUN = 10


class ProgressBar(Callback):
    """Shows one bar for the run, updated once per epoch (never per batch: no host syncs).

    Args:
        keys: history keys to show next to the bar.
        stream: where to write; a non-terminal gets periodic plain lines instead of a bar.
    """

    def __init__(self, keys: tuple[str, ...] = ("loss", "val_loss"), stream=None):
        self.keys = keys
        self.stream = stream if stream is not None else sys.stderr
        self.bar = None

    def on_train_begin(self, trainer) -> None:
        if self._is_terminal():
            self.bar = tqdm(total=trainer.epochs, initial=trainer.state.epoch, unit="epoch",
                            file=self.stream, dynamic_ncols=True, leave=True)

    def on_epoch_end(self, trainer, record: dict) -> None:
        shown = {key: f"{record[key]:.4g}" for key in self.keys if key in record}
        if self.bar is not None:
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(1)
            return
        every = max(1, trainer.epochs // LOG_LINES_PER_RUN)
        if record["epoch"] % every == 0 or record["epoch"] == trainer.epochs:
            fields = "  ".join(f"{key} {value}" for key, value in shown.items())
            print(f"epoch {record['epoch']}/{trainer.epochs}  {fields}", file=self.stream,
                  flush=True)

    def on_train_end(self, trainer) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if trainer.state.stop_reason:
            print(f"Stopped at epoch {trainer.state.epoch}: {trainer.state.stop_reason}",
                  file=self.stream)

    def _is_terminal(self) -> bool:
        return hasattr(self.stream, "isatty") and self.stream.isatty()
