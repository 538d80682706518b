"""What travels with an exported model and is not a tensor operation: the input's column
order and category vocabularies, class names, the task and target, where it came from.

ONNX keeps it as ``metadata_props`` (string to string: lists and mappings JSON-encoded);
a pt2 archive as ``trainwise.json`` inside it (``torch.export.load(path,
extra_files={"trainwise.json": ""})``).
"""

from __future__ import annotations

import json

from trainwise import __version__
from trainwise.export.graph import GraphInput
from trainwise.export.inputs import UNSEEN_CODE
from trainwise.run import Run

PT2_METADATA_FILE = "trainwise.json"

_OUTPUTS = {
    "prediction": "(batch,) float32: the prediction in the target's units",
    "probabilities": "(batch, classes) float32: softmax probabilities, in the order of 'classes'",
    "logits": "(batch, classes) float32: the network's logits, in the order of 'classes'",
    "mean": "(batch,) float32: the predictive Normal's mean, in the target's units",
    "variance": "(batch,) float32: its variance (aleatoric + epistemic), target units squared",
}


def export_metadata(run: Run, graph_input: GraphInput, output_names: tuple[str, ...]) -> dict:
    """Plain data: JSON-serialisable, the same for both formats."""
    prep, cfg = run.preprocessor, run.config
    shape = ["batch", *(graph_input.dynamic.get(axis + 1, size)
                        for axis, size in enumerate(graph_input.shape))]
    metadata = {
        "producer": "trainwise",
        "trainwise_version": __version__,
        "run_id": run.id,
        "task": cfg.task.type,
        "target": prep.target,
        "data_kind": cfg.data.kind,
        "input_name": graph_input.name,
        "input_shape": shape,
        "input_dtype": "float32",
        "outputs": {name: _OUTPUTS[name] for name in output_names},
        "units": "not recorded by trainwise: the inputs and the target are in the units of "
                 "the training data",
    }
    if prep.task == "classification":
        metadata["classes"] = list(prep.classes)
    else:
        metadata["target_scaling"] = {"mean": prep.target_mean, "std": prep.target_std,
                                      "note": "undone inside the graph"}
    metadata.update(_table(prep) if cfg.data.kind == "tabular" else _arrays(prep, graph_input))
    return metadata


def onnx_properties(metadata: dict) -> dict[str, str]:
    """``metadata_props``: strings as they are, everything else as JSON."""
    return {key: value if isinstance(value, str) else json.dumps(value)
            for key, value in metadata.items()}


def _table(prep) -> dict:
    return {
        "input_columns": prep.input_columns,
        "numeric_columns": list(prep.numeric),
        "categorical_columns": {column: stats["categories"]
                                for column, stats in prep.categorical.items()},
        "input_encoding": (
            "one float32 row per sample, columns in input_columns order; a numeric cell holds "
            "its raw value (NaN: missing, imputed with the training median inside the graph); "
            "a categorical cell holds the value's index in categorical_columns[column] (NaN: "
            "missing, imputed with the most frequent training category; "
            f"{UNSEEN_CODE:g} or any other index: a value never seen in training, encoded as no "
            "category). Standardisation and one-hot encoding happen inside the graph."),
        "numeric_preprocessing": prep.numeric,
    }


def _arrays(prep, graph_input: GraphInput) -> dict:
    return {
        "sample_shape": list(prep.sample_shape),
        "input_encoding": ("raw samples, channels first, float32; per-channel "
                           "standardisation happens inside the graph"),
        "channel_mean": prep.channel_mean,
        "channel_std": prep.channel_std,
        "spatial_size": ("dynamic" if graph_input.fixed_because is None else
                         {"fixed": list(prep.sample_shape[1:]),
                          "because": graph_input.fixed_because}),
    }
