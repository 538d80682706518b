"""A live loss curve in a Jupyter output cell (like fastai's ``ShowGraphCallback``).

Two outputs, a status line and the figure, each made with ``display(..., display_id=True)``
and replaced in place with ``update``. Replacing one costs little (a message to the
browser); drawing the figure costs
~50 ms, as much as 20 epochs of the Auto MPG tutorial, so the figure is redrawn only while
drawing has taken under ``DRAW_BUDGET`` of the training time, and the text status line in
between. The final frame is the run record's own ``plots/loss.png``, drawn anyway.
"""

from __future__ import annotations

import html
import io
import sys
import time
from pathlib import Path

MIN_INTERVAL_S = 0.25  # at most four updates a second, whatever the epoch rate
DRAW_BUDGET = 0.005  # drawing may take this share of the training time (0.5 %)
FIRST_DRAW_GUESS_S = 0.05  # a draw's cost before one was timed (a 6x3.5 in figure, 80 dpi)


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (Colab's shell derives from Jupyter's).

    Only looks at an IPython already imported: a script never pays for importing it.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return any(kind.__name__ == "ZMQInteractiveShell" for kind in type(shell).__mro__)


class NotebookCurve:
    """The cell's live output: a status line and, budget allowing, the loss curves.

    Args:
        keys: the history keys to draw and show.
        epochs: the planned epochs (for "epoch 12/300").
    """

    def __init__(self, keys: tuple[str, ...], epochs: int):
        from IPython.display import HTML, display

        self.keys, self.epochs = keys, epochs
        self.started = self.shown_at = time.perf_counter()
        self.drawing_s, self.draw_cost_s = 0.0, FIRST_DRAW_GUESS_S
        self.figure = self.curve = None  # the figure's output: made with its first frame
        self.status = display(HTML(""), display_id=True)

    def update(self, history: list[dict]) -> None:
        """Show the latest epoch, unless the last update was under ``MIN_INTERVAL_S`` ago."""
        now = time.perf_counter()
        if now - self.shown_at < MIN_INTERVAL_S:
            return
        if self.drawing_s + self.draw_cost_s <= DRAW_BUDGET * (now - self.started):
            self._show_png(self._draw(history))
            self.draw_cost_s = time.perf_counter() - now
            self.drawing_s += self.draw_cost_s
        self._show_status(history[-1])
        self.shown_at = time.perf_counter()

    def finish(self, history: list[dict], loss_png: Path | None) -> None:
        """The last epoch, with the record's loss plot when the run drew one, else the curve
        drawn to its end (updates are throttled, so the last epochs may not be on it yet)."""
        if loss_png is not None and loss_png.is_file():
            self._show_png(loss_png.read_bytes())
        elif history:
            self._show_png(self._draw(history))
        if history:
            self._show_status(history[-1])

    def _show_status(self, record: dict) -> None:
        from IPython.display import HTML

        shown = "  ".join(f"{key} {record[key]:.4g}" for key in self.keys
                          if record.get(key) is not None)
        self.status.update(HTML(f"<pre>epoch {record['epoch']}/{self.epochs}  "
                                f"{html.escape(shown)}</pre>"))

    def _show_png(self, png: bytes) -> None:
        from IPython.display import Image, display

        if self.curve is None:
            self.curve = display(Image(data=png, format="png"), display_id=True)
        else:
            self.curve.update(Image(data=png, format="png"))

    def _draw(self, history: list[dict]) -> bytes:
        """The curves so far as PNG bytes (one figure, reused: only its lines change)."""
        if self.figure is None:
            self.figure, self.lines = _figure(self.keys)
        axes = self.figure.axes[0]
        epochs = [record["epoch"] for record in history]
        for key, line in zip(self.keys, self.lines):
            line.set_data(epochs, [record.get(key) for record in history])
        axes.relim()
        axes.autoscale_view()
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png")
        return buffer.getvalue()


def _figure(keys: tuple[str, ...]):
    """A small figure with one empty line per key (matplotlib's object API: no pyplot, so
    no global figure list and no inline backend drawing it a second time)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.5), dpi=80)
    axes = figure.subplots()
    lines = [axes.plot([], [], label=key)[0] for key in keys]
    axes.set_xlabel("epoch")
    axes.legend(loc="upper right")
    return figure, lines

