"""Split array samples without leaking sessions: frames of one recording session are nearly
alike, so a frame-level random split lets the model recognise the session instead of the
class, and the validation accuracy overestimates what a new session gets. Frames therefore
split by session file by default (``data.split.method: group``); a random frame split stays
possible, with a warning that says why it flatters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from trainwise.data.split import split_rows
from trainwise.errors import UserError

LEAK_WARNING = ("data.split.method: random splits frames of one recording session between "
                "training and validation/test. Frames of a session are nearly alike, so the "
                "held-out scores measure recognising sessions already seen and overestimate "
                "the accuracy on a new session; split by session file instead "
                "(data.split.method: group, the default for frames).")


def split_samples(labels: list, sessions: np.ndarray, split_cfg, task: str, seed: int,
                  kind: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """Row indices per split (``train``, and ``val``/``test`` when asked), and warnings.

    ``method: files`` and ``none`` keep every sample for training here (the validation
    files are read separately).
    """
    if split_cfg.method in ("files", "none"):
        return {"train": np.arange(len(labels))}, []
    frame = pd.DataFrame({"label": [str(v) for v in labels], "session": sessions,
                          "row": np.arange(len(labels))})
    stratify = split_cfg.stratify if split_cfg.stratify is not None else task == "classification"
    if split_cfg.method == "group":
        indices = _split_sessions(frame, split_cfg, stratify, seed)
    else:
        parts = split_rows(frame, split_cfg, "label", stratify, seed)
        indices = {name: part["row"].to_numpy() for name, part in parts.items()}
    warnings = []
    if split_cfg.method == "random" and kind == "frames" and _sessions_cross(indices, sessions):
        warnings.append(LEAK_WARNING)
    return indices, warnings


def _split_sessions(frame: pd.DataFrame, split_cfg, stratify: bool,
                    seed: int) -> dict[str, np.ndarray]:
    """Whole sessions per split: the test sessions first, then validation from the rest,
    stratified by each session's most common label when every class has enough sessions."""
    sessions = frame.groupby("session")["label"].agg(lambda v: v.mode().iloc[0])
    if len(sessions) < 2:
        raise UserError(f"the data holds {len(sessions)} session file(s); a split by session "
                        "needs several. Record more sessions, or set data.split.method: random "
                        "(frames of one session then land in several splits).")
    held = {}
    rest = sessions
    for name, fraction in (("test", split_cfg.test), ("val", split_cfg.val)):
        share = fraction / (1.0 - split_cfg.test) if name == "val" else fraction
        if share <= 0:
            continue
        rest, held[name] = _cut_sessions(rest, share, stratify, seed, name)
    by_session = {"train": rest.index, **{name: part.index for name, part in held.items()}}
    return {name: frame.loc[frame["session"].isin(members), "row"].to_numpy()
            for name, members in by_session.items()}


def _cut_sessions(sessions: pd.Series, share: float, stratify: bool, seed: int,
                  name: str) -> tuple[pd.Series, pd.Series]:
    count = max(1, round(share * len(sessions)))
    if count >= len(sessions):
        raise UserError(f"data.split.{name}: holding out {share:.0%} of {len(sessions)} "
                        "sessions leaves none to train on; lower it or record more sessions.")
    classes = sessions.value_counts()
    labels = sessions if stratify and count >= len(classes) and classes.min() >= 2 else None
    keep, held = train_test_split(sessions, test_size=count, random_state=seed,
                                  stratify=labels)
    return keep, held


def _sessions_cross(indices: dict[str, np.ndarray], sessions: np.ndarray) -> bool:
    """Whether some session has frames both in training and in a held-out split."""
    trained = set(sessions[indices["train"]].tolist())
    return any(trained & set(sessions[rows].tolist())
               for name, rows in indices.items() if name != "train")
