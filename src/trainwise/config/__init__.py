"""Typed, validated configuration: one YAML file plus dotted overrides."""

from trainwise.config.load import load_config, parse_overrides
from trainwise.config.schema import (
    Config,
    DataConfig,
    EarlyStoppingConfig,
    ModelConfig,
    SchedulerConfig,
    SplitConfig,
    TaskConfig,
    TrainConfig,
)

__all__ = [
    "Config",
    "DataConfig",
    "EarlyStoppingConfig",
    "ModelConfig",
    "SchedulerConfig",
    "SplitConfig",
    "TaskConfig",
    "TrainConfig",
    "load_config",
    "parse_overrides",
]
