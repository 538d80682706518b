"""The fit loop and what it needs: state, batches, optimizers, losses, checkpoints."""

from trainwise.training.batches import InMemoryBatches
from trainwise.training.state import TrainState
from trainwise.training.trainer import Trainer

__all__ = ["InMemoryBatches", "TrainState", "Trainer"]
