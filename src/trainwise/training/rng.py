"""Capture and restore the random number generators that training consumes."""

from __future__ import annotations

import torch


def capture_rng_state() -> dict:
    """The CPU generator (dropout, initialisation) and, where present, every CUDA generator.

    The data order needs no state here: each epoch's shuffle is seeded from (seed, epoch).
    """
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
