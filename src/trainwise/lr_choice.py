"""The learning rate from the LR range test: ``train.lr: auto`` and ``trainwise lr-find``."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from trainwise.config.load import load_config
from trainwise.config.schema import Config
from trainwise.data.prepare import PreparedData
from trainwise.reports.lr_finder_plot import plot_lr_finder
from trainwise.tracking.run_dir import RunDirectory
from trainwise.tracking.store import RunStore
from trainwise.tracking.store_url import STORE_FILE
from trainwise.training.lr_finder import LRFinderResult, lr_range_test

# The learning rate when train.lr: auto finds no trustworthy suggestion (Adam's usual default).
DEFAULT_LR = 1e-3


def choose_lr(cfg: Config, data: PreparedData, model, device, run_dir: RunDirectory,
              progress: bool) -> None:
    """``train.lr: auto``: run the range test, set ``cfg.train.lr``, record what and why.

    The test restores the model, optimizer and RNG, so the run then trains exactly as if the
    chosen rate had been written in the config.
    """
    result = find_lr(cfg, data, model, device)
    cfg.train.lr = result.chosen or DEFAULT_LR
    if result.chosen is None:
        result.reason += f"; trained with the default learning rate {DEFAULT_LR} instead"
    run_dir.write_json("lr_finder.json", result.to_dict())
    plot_lr_finder(result, run_dir.plots / "lr_finder.png")
    if progress:
        print(f"train.lr: auto -> {cfg.train.lr:.3g} ({result.reason})", file=sys.stderr)


def find_lr(cfg: Config, data: PreparedData, model, device) -> LRFinderResult:
    """The LR range test on a probe session: the same model and data, a placeholder rate.

    The probe's run folder and store are temporary: the test trains, but records nothing.
    """
    from trainwise.session import Session  # the session chooses rates with this

    probe_cfg = cfg.model_copy(deep=True)
    probe_cfg.train.lr = DEFAULT_LR  # replaced step by step by the test's own ramp
    finder = cfg.train.lr_finder
    with tempfile.TemporaryDirectory() as scratch:
        # A SQLite file in the scratch folder, whatever store runs.store or TRAINWISE_STORE
        # name: the probe is no run, and must not appear in a shared store.
        probe = Session(probe_cfg, data, model, device, RunDirectory.create(scratch, "probe"),
                        RunStore(Path(scratch) / STORE_FILE), False, [])
        return lr_range_test(probe.trainer, finder.start_lr, finder.end_lr, finder.steps,
                             finder.rule)


def probe_lr(config: str | Path | dict | Config, overrides: list[str] | dict | None = None,
             runs_dir: str | Path = "runs") -> tuple[Config, LRFinderResult]:
    """``trainwise lr-find``: the range test for a config, without training a run.

    Returns:
        The validated config and the test's result (curve, suggestions, chosen rate).
    """
    from trainwise.session import starting_model

    cfg = load_config(config, overrides)
    data, model, device, _ = starting_model(cfg, runs_dir)
    return cfg, find_lr(cfg, data, model, device)
