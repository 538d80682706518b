"""Callbacks: hooks around the fit loop (see ``Callback`` for the contract)."""

from trainwise.callbacks.base import Callback, CallbackList
from trainwise.callbacks.confusion_recorder import ValidationConfusion
from trainwise.callbacks.dead_units import DeadUnitMonitor
from trainwise.callbacks.early_stopping import EarlyStopping
from trainwise.callbacks.freeze import FreezeSchedule
from trainwise.callbacks.mlflow_logger import MLflowLogger
from trainwise.callbacks.model_checkpoint import ModelCheckpoint
from trainwise.callbacks.monitor import Monitor
from trainwise.callbacks.nan_guard import TerminateOnNaN
from trainwise.callbacks.progress import ProgressBar
from trainwise.callbacks.pseudo_label import PseudoLabel
from trainwise.callbacks.run_control import RunControl
from trainwise.callbacks.run_recorder import RunRecorder
from trainwise.callbacks.tensorboard_logger import TensorBoardLogger

__all__ = [
    "Callback",
    "CallbackList",
    "DeadUnitMonitor",
    "EarlyStopping",
    "FreezeSchedule",
    "MLflowLogger",
    "ModelCheckpoint",
    "Monitor",
    "ProgressBar",
    "PseudoLabel",
    "RunControl",
    "RunRecorder",
    "TensorBoardLogger",
    "TerminateOnNaN",
    "ValidationConfusion",
]
