"""The PyTorch tutorial loop: ``DataLoader(TensorDataset, shuffle=True)``, default Adam.

As the official tutorials write it: batches come from the DataLoader (main process, no
workers: with rows already in memory, workers only add inter-process copies), move to the
device per step, and the running loss is read with ``loss.item()`` every step. Validation
runs over a second DataLoader of the validation rows.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset

from job import Data, Job
from peers.torch_common import criterion, device_of, make_model, val_loss


def train_one(data: Data, job: Job, lr: float) -> dict:
    """Train from the shared weights for ``job.epochs`` epochs at ``lr``; see the module doc."""
    device = device_of(job.device)
    torch.manual_seed(job.seed)
    pin = device.type == "cuda"
    train_loader = DataLoader(_dataset(data.x_train, data.y_train), batch_size=job.batch_size,
                              shuffle=True, pin_memory=pin)
    val_loader = DataLoader(_dataset(data.x_val, data.y_val), batch_size=job.batch_size,
                            pin_memory=pin)
    model = make_model(data, job).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = criterion(job)
    history = []
    for _ in range(job.epochs):
        train_loss = _train_epoch(model, optimizer, loss_fn, train_loader, device)
        history.append((train_loss, _evaluate(model, loss_fn, val_loader, device)))
    return {"val_loss": val_loss(model, data, device, job), "device": str(device),
            "epochs_run": len(history)}


def _dataset(x, y) -> TensorDataset:
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


def _train_epoch(model, optimizer, loss_fn, loader: DataLoader, device) -> float:
    model.train()
    running, rows = 0.0, 0
    for x_batch, y_batch in loader:
        x_batch, y_batch = x_batch.to(device), y_batch.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(x_batch), y_batch)
        loss.backward()
        optimizer.step()
        running += loss.item() * len(y_batch)
        rows += len(y_batch)
    return running / rows


@torch.no_grad()
def _evaluate(model, loss_fn, loader: DataLoader, device) -> float:
    model.eval()
    total, rows = 0.0, 0
    for x_batch, y_batch in loader:
        x_batch, y_batch = x_batch.to(device), y_batch.to(device)
        total += loss_fn(model(x_batch), y_batch).item() * len(y_batch)
        rows += len(y_batch)
    return total / rows
