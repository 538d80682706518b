"""Keras 3: a ``Sequential`` model, ``model.fit(..., validation_data=..., verbose=0)``.

Keras chooses its backend when it is imported, from ``KERAS_BACKEND``; the runner sets it in
this worker's environment ("tensorflow" or "torch"), so each backend gets a process of its
own. The model starts from the shared weights (kernels transposed to Keras' (in, out)
layout), Adam's epsilon is set to PyTorch's 1e-8 (Keras' default is 1e-7), and the rest is
Keras' default: ``jit_compile="auto"``, shuffling every epoch, validation every epoch.

Scenario 3's CNN is written as a Keras user writes it, channels last (Keras' default, and the
only layout TensorFlow's CPU convolutions take): the images are moved to (N, H, W, C) and the
conv kernels from PyTorch's (out, in, kh, kw) to Keras' (kh, kw, in, out); ``padding="same"``
with odd kernels pads as trainwise's and torch's do, and the global average pool makes the head
see the same (N, C) features in either layout. The loss is sparse cross-entropy on logits.
"""

from __future__ import annotations

import keras

import numpy as np

from job import Data, Job, score


def train_one(data: Data, job: Job, lr: float) -> dict:
    """Train from the shared weights for ``job.epochs`` epochs at ``lr``; see the module doc."""
    device = _device()
    if device != job.device:
        hint = ("TensorFlow's GPU build is tensorflow[and-cuda]"
                if keras.backend.backend() == "tensorflow" else "torch sees no CUDA device")
        raise RuntimeError(f"--device {job.device}: Keras ({keras.backend.backend()} backend) "
                           f"runs on {device} here ({hint})")
    keras.utils.set_random_seed(job.seed)
    x_train, y_train, x_val, y_val = _arrays(data, job)
    model = _cnn(job, x_train.shape[1:]) if job.layers else _mlp(job, x_train.shape[1])
    model.set_weights([array for weight, bias in data.weights
                       for array in (_keras_kernel(weight), bias)])
    loss = (keras.losses.SparseCategoricalCrossentropy(from_logits=True) if job.n_classes
            else "mse")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr, epsilon=1e-8), loss=loss)
    history = model.fit(x_train, y_train, batch_size=job.batch_size, epochs=job.epochs,
                        validation_data=(x_val, y_val), verbose=0, shuffle=True)
    batch = 1024 if job.layers else len(x_val)  # a CNN's validation in chunks, as the others'
    prediction = model.predict(x_val, batch_size=batch, verbose=0)  # (M, 1) or (M, K)
    return {"val_loss": score(prediction, data.y_val, job.n_classes), "device": device,
            "epochs_run": len(history.history["loss"]),
            "notes": f"backend {keras.backend.backend()}, jit_compile {model.jit_compile}"}


def _arrays(data: Data, job: Job) -> tuple[np.ndarray, ...]:
    """Train and validation arrays as Keras takes them: images channels last, a regression
    target as (N, 1)."""
    if job.layers:
        x_train, x_val = (np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # (N, H, W, C)
                          for x in (data.x_train, data.x_val))
        return x_train, data.y_train, x_val, data.y_val
    return data.x_train, data.y_train[:, None], data.x_val, data.y_val[:, None]


def _mlp(job: Job, n_features: int) -> keras.Sequential:
    return keras.Sequential([keras.Input((n_features,)),
                             *[keras.layers.Dense(size, activation="relu") for size in job.hidden],
                             keras.layers.Dense(1)])


def _cnn(job: Job, sample_shape: tuple[int, ...]) -> keras.Sequential:
    """trainwise's ``model.layers`` (conv2d/maxpool2d/globalavgpool) in Keras, then the head."""
    layers = [keras.Input(sample_shape)]  # (H, W, C)
    for spec in job.layers:
        if spec["type"] == "conv2d":
            layers.append(keras.layers.Conv2D(spec["filters"], spec["kernel"], padding="same",
                                              activation=spec.get("activation")))
        elif spec["type"] == "maxpool2d":
            layers.append(keras.layers.MaxPooling2D(spec["size"]))
        elif spec["type"] == "globalavgpool":
            layers.append(keras.layers.GlobalAveragePooling2D())
        else:
            raise ValueError(f"the benchmark's CNN has no {spec['type']} layer")
    return keras.Sequential([*layers, keras.layers.Dense(job.n_classes)])


def _keras_kernel(weight: np.ndarray) -> np.ndarray:
    """A PyTorch weight in Keras' layout: dense (out, in) -> (in, out), conv (out, in, kh, kw)
    -> (kh, kw, in, out)."""
    return weight.T if weight.ndim == 2 else weight.transpose(2, 3, 1, 0)


def _device() -> str:
    """Where this backend puts the model: "cuda" when it sees a GPU, else "cpu"."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return "cuda" if tf.config.list_physical_devices("GPU") else "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
