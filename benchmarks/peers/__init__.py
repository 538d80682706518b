"""The tools a benchmark compares: trainwise and what a user would pick instead.

Each tool is a module with ``train_one(data, job, lr) -> dict`` (keys: ``val_loss``,
``device``, optionally ``notes``), and optionally ``train_sweep(data, job) -> list[dict]``
to train all of a sweep's rates its own way (the default trains them one after another).
A module imports its framework at the top: the worker imports it before the clock starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tool:
    """A tool as the runner knows it.

    Args:
        name: as in ``--tools`` and the results table.
        module: the module under ``benchmarks/`` that trains it.
        summary: one line for the results' legend.
        needs: packages it imports (missing ones: the tool is skipped, with the reason).
        env: environment variables for its worker process (Keras picks its backend at import).
        options: passed to the module in ``job.options``.
        models: the scenario models it trains: "mlp" (tables), "cnn" (scenario 3's images).
    """

    name: str
    module: str
    summary: str
    needs: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    models: tuple[str, ...] = ("mlp", "cnn")


TOOLS = {tool.name: tool for tool in (
    Tool("trainwise", "peers.trainwise_runner",
         "trainwise.fit(config): the full train path (callbacks, history, checkpoints, "
         "run record, diagnosis; PNG plots on request, as in the peers)",
         options={"mode": "fit"}),
    Tool("trainwise-batched", "peers.trainwise_runner",
         "trainwise.sweep(config, {train.lr: [...]}): a sweep's runs as one batched model, "
         "each a full run record (the plots are left to `trainwise report`)",
         options={"mode": "fit", "trainwise_sweep": "batched"}, models=("mlp",)),
    Tool("trainwise-stream", "peers.trainwise_runner",
         "trainwise.fit(config) with data.streaming.enabled: true: training rows read from "
         "Parquet in chunks through a DataLoader (2 workers; under --threads 1 none: the "
         "training process reads)",
         options={"mode": "stream"}, models=("mlp",)),
    Tool("trainwise-trainer", "peers.trainwise_runner",
         "trainwise's bare Trainer: in-memory batches, fused Adam, no callbacks, no record",
         options={"mode": "trainer"}, models=("mlp",)),
    Tool("torch-tensor-fused", "peers.plain_loop",
         "plain PyTorch loop over tensors sliced by a per-epoch permutation, Adam(fused=True)",
         options={"fused": True}),
    Tool("torch-tensor", "peers.plain_loop",
         "the same plain tensor loop with default Adam", options={"fused": False}),
    Tool("torch-dataloader", "peers.dataloader_loop",
         "plain PyTorch loop over a DataLoader(TensorDataset, shuffle=True), default Adam"),
    Tool("lightning", "peers.lightning_runner",
         "PyTorch Lightning Trainer with DataLoaders (no progress bar, logger, checkpoints)",
         needs=("lightning",)),
    Tool("keras-tf", "peers.keras_runner",
         "Keras 3 model.fit(validation_data=..., verbose=0), TensorFlow backend",
         needs=("keras", "tensorflow"), env={"KERAS_BACKEND": "tensorflow"}),
    Tool("keras-torch", "peers.keras_runner",
         "Keras 3 model.fit(validation_data=..., verbose=0), torch backend",
         needs=("keras",), env={"KERAS_BACKEND": "torch"}),
)}

# The ratios' denominators: the fastest plain loop a careful user writes, and trainwise.
REFERENCE = "torch-tensor-fused"
TRAINWISE = "trainwise"
