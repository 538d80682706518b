"""A plain PyTorch loop over tensors: one permutation per epoch, batches sliced from it.

What a careful user writes once they notice the DataLoader's per-step cost: the data lives on
the device as two tensors, the epoch's training loss is summed on the device and read once,
and validation is one forward pass over all validation rows (a CNN's in chunks of 1,024
samples). ``job.options["fused"]``
chooses ``Adam(fused=True)`` or the default Adam.
"""

from __future__ import annotations

import torch
from torch import nn

from job import Data, Job
from peers.torch_common import criterion, device_of, make_model, predict, tensors, val_loss


def train_one(data: Data, job: Job, lr: float) -> dict:
    """Train from the shared weights for ``job.epochs`` epochs at ``lr``; see the module doc."""
    device = device_of(job.device)
    torch.manual_seed(job.seed)
    x, y, x_val, y_val = tensors(data, device)
    model = make_model(data, job).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr,
                                 **({"fused": True} if job.options.get("fused") else {}))
    loss_fn = criterion(job)
    history = []
    for _ in range(job.epochs):
        train_loss = _train_epoch(model, optimizer, loss_fn, x, y, job.batch_size)
        epoch_val = loss_fn(predict(model, x_val, job), y_val)
        history.append(torch.stack([train_loss, epoch_val]).tolist())  # the epoch's one read
    return {"val_loss": val_loss(model, data, device, job), "device": str(device),
            "epochs_run": len(history)}


def _train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn,
                 x: torch.Tensor, y: torch.Tensor, batch_size: int) -> torch.Tensor:
    """One shuffled pass; returns the row-weighted mean training loss as a device scalar."""
    model.train()
    order = torch.randperm(len(x), device=x.device)
    total = torch.zeros((), device=x.device)
    for start in range(0, len(x), batch_size):
        rows = order[start:start + batch_size]
        x_batch, y_batch = x[rows], y[rows]  # (B, F) or (B, C, H, W), (B,)
        optimizer.zero_grad()
        loss = loss_fn(model(x_batch), y_batch)
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(rows)
    return total / len(x)
