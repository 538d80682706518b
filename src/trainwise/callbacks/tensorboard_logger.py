"""Log a run to TensorBoard event files: every history key per epoch, each optimizer step's
loss, the hyper-parameters, and at the end the final metrics, the plots and the findings.

Written with TensorBoard's own protos and record writer, not ``torch.utils.tensorboard`` nor
TensorBoard's summary helpers: those import TensorFlow when it is installed (~7 s and a
screenful of log lines) and then build TensorFlow's protos, not these.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from pathlib import Path

from trainwise.callbacks.loggers import RunLogger, epoch_steps, final_numbers, flat_config
from trainwise.yaml_io import load_yaml

FLUSH_EVERY_S = 2.0  # a live `tensorboard` sees new epochs this late at most
STEPS_FOLDER = "steps"  # per-step losses: their own TensorBoard run (their own step axis)
PNG_SIZE = struct.Struct(">II")  # a PNG's width and height, at bytes 16-24 (its IHDR chunk)


class TensorBoardLogger(RunLogger):
    """Writes ``folder`` (epochs, x-axis: epoch) and ``folder/steps`` (x-axis: optimizer step).

    A resumed run continues the same curves: each writer starts by telling TensorBoard to
    drop what it holds from the resumed step on (the epochs trained after the last
    checkpoint, before the run was stopped), which the run then logs again.

    Args:
        folder: where the event files go.
        run_path: the run folder (its config.yaml gives the hyper-parameters).
    """

    name = "TensorBoard"

    def __init__(self, folder: Path, run_path: Path):
        self.folder, self.run_path = Path(folder), Path(run_path)
        self.epochs = self.steps = None

    def on_train_begin(self, trainer) -> None:
        state = trainer.state
        self.epochs = EventFile(self.folder, resume_at=state.epoch + 1 if state.epoch else None)
        self.steps = EventFile(self.folder / STEPS_FOLDER,
                               resume_at=state.global_step + 1 if state.global_step else None)
        if not state.epoch and not state.global_step:  # a new run: its settings, once
            self.epochs.write_hparams(self._hparams())
            self.epochs.write_text("config", (self.run_path / "config.yaml").read_text(), 0)

    def on_epoch_end(self, trainer, record: dict) -> None:
        epoch = record["epoch"]
        for key, value in record.items():
            if key != "epoch" and value is not None:
                self.epochs.write_scalar(key, value, epoch)
        for row in epoch_steps(trainer.state.batch_history, epoch):
            self.steps.write_scalar("step_loss", row["loss"], row["step"])
        self.epochs.flush_now_and_then()
        self.steps.flush_now_and_then()

    def on_train_end(self, trainer) -> None:
        self.epochs.close()
        self.steps.close()

    def log_record(self, run_path: Path) -> None:
        """Final metrics as scalars, the plots as images and the findings as text, at the
        run's last epoch."""
        events = EventFile(self.folder)
        epoch = json.loads((run_path / "status.json").read_text())["epochs"]
        metrics = run_path / "metrics.json"
        for key, value in final_numbers(json.loads(metrics.read_text()) if metrics.exists()
                                        else {}).items():
            events.write_scalar(f"final/{key}", value, epoch)
        for png in sorted((run_path / "plots").glob("*.png")):
            events.write_png(f"plots/{png.stem}", png.read_bytes(), epoch)
        if (run_path / "findings.json").exists():
            findings = json.loads((run_path / "findings.json").read_text())
            events.write_text("findings", "\n\n".join(
                f"**{f['severity']}** {f['title']}: {f['message']}" for f in findings), epoch)
        events.close()

    def _hparams(self) -> dict:
        return flat_config(load_yaml((self.run_path / "config.yaml").read_text()))


class EventFile:
    """One TensorBoard event file, written with TensorBoard's record framing.

    Args:
        folder: the TensorBoard run's folder (created if missing).
        resume_at: the step from which TensorBoard should forget earlier-logged events
            (``SessionLog.START``, what TensorBoard's own ``purge_step`` writes); None: none.
    """

    def __init__(self, folder: Path, resume_at: int | None = None):
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        self._pb = event_pb2
        folder.mkdir(parents=True, exist_ok=True)
        # The name TensorBoard looks for; time_ns keeps two files of one second in order.
        name = f"events.out.tfevents.{time.time_ns()}.{socket.gethostname()}.{os.getpid()}"
        self._file = open(folder / name, "wb")  # noqa: SIM115 -- closed by close()
        self._records = RecordWriter(self._file)
        self._flushed = time.monotonic()
        self._write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        if resume_at is not None:
            self._write(event_pb2.Event(wall_time=time.time(), step=resume_at,
                                        session_log=event_pb2.SessionLog(
                                            status=event_pb2.SessionLog.START)))

    def write_scalar(self, tag: str, value: float, step: int) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        self._summary(Summary(value=[Summary.Value(tag=tag, simple_value=value)]), step)

    def write_png(self, tag: str, png: bytes, step: int) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        width, height = PNG_SIZE.unpack(png[16:24])
        image = Summary.Image(height=height, width=width, colorspace=4,  # RGBA
                              encoded_image_string=png)
        self._summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)

    def write_text(self, tag: str, text: str, step: int) -> None:
        """Markdown ``text`` for the Text tab (a string tensor tagged for the text plugin)."""
        from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
        from tensorboard.compat.proto.tensor_pb2 import TensorProto
        from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

        metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text"))
        tensor = TensorProto(dtype="DT_STRING", string_val=[text.encode()],
                             tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
        self._summary(Summary(value=[Summary.Value(tag=tag, metadata=metadata,
                                                   tensor=tensor)]), step)

    def write_hparams(self, hparams: dict) -> None:
        """The run's hyper-parameters for the HParams tab (its session start; TensorBoard
        infers the table's columns, and takes the metrics from the scalars)."""
        from google.protobuf.struct_pb2 import Value
        from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
        from tensorboard.plugins.hparams import plugin_data_pb2

        values = {key: (Value(bool_value=value) if isinstance(value, bool) else
                        Value(number_value=value) if isinstance(value, (int, float)) else
                        Value(string_value=value)) for key, value in hparams.items()}
        start = plugin_data_pb2.SessionStartInfo(hparams=values, start_time_secs=time.time())
        content = plugin_data_pb2.HParamsPluginData(version=0, session_start_info=start)
        metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
            plugin_name="hparams", content=content.SerializeToString()))
        self._summary(Summary(value=[Summary.Value(tag="_hparams_/session_start_info",
                                                   metadata=metadata)]), 0)

    def flush_now_and_then(self) -> None:
        if time.monotonic() - self._flushed > FLUSH_EVERY_S:
            self._file.flush()
            self._flushed = time.monotonic()

    def close(self) -> None:
        self._file.close()

    def _summary(self, summary, step: int) -> None:
        self._write(self._pb.Event(wall_time=time.time(), step=step, summary=summary))

    def _write(self, event) -> None:
        self._records.write(event.SerializeToString())
