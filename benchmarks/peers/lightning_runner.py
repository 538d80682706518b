"""PyTorch Lightning: a LightningModule, DataLoaders, ``Trainer.fit`` with validation each epoch.

Trainer settings a user would choose for a quiet, comparable run: no progress bar, no logger
and no checkpointing (checkpoints off is in Lightning's favour: trainwise writes them), no
model summary. Everything else is Lightning's default, the two sanity-check validation
batches included. The training loss is logged per epoch, as a user logs it.
"""

from __future__ import annotations

import logging
import warnings

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from job import Data, Job
from peers.torch_common import criterion, device_of, make_model, val_loss

# Rows already in memory gain nothing from loader workers on this machine; the advice to add
# them, and the note that an epoch has fewer batches than the logging interval, are expected.
warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")
logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # "GPU available: ..." lines


class Model(L.LightningModule):
    """The shared network, trained with the scenario's loss (MSE or cross-entropy) and Adam."""

    def __init__(self, net: nn.Module, lr: float, loss_fn):
        super().__init__()
        self.net = net
        self.lr = lr
        self.loss_fn = loss_fn

    def training_step(self, batch, batch_idx):
        x, y = batch  # (B, F) or (B, C, H, W), (B,)
        loss = self.loss_fn(self.net(x), y)
        self.log("loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", self.loss_fn(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def train_one(data: Data, job: Job, lr: float) -> dict:
    """Train from the shared weights for ``job.epochs`` epochs at ``lr``; see the module doc."""
    device = device_of(job.device)
    torch.manual_seed(job.seed)
    module = Model(make_model(data, job), lr, criterion(job))
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    trainer = L.Trainer(max_epochs=job.epochs, accelerator=accelerator, devices=1,
                        enable_progress_bar=False, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, default_root_dir=job.scratch)
    trainer.fit(module, _loader(data.x_train, data.y_train, job.batch_size, shuffle=True),
                _loader(data.x_val, data.y_val, job.batch_size, shuffle=False))
    net = module.net.to(device)
    return {"val_loss": val_loss(net, data, device, job), "device": str(device),
            "epochs_run": trainer.current_epoch}


def _loader(x, y, batch_size: int, shuffle: bool) -> DataLoader:
    return DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                      batch_size=batch_size, shuffle=shuffle)
