"""The config: defaults, overrides, validation before any data is read."""

from __future__ import annotations

import pytest

from trainwise.config import Config, load_config, parse_overrides
from trainwise.errors import UserError

MINIMAL = {"data": {"source": "auto_mpg", "target": "mpg"}}


def test_defaults_fill_every_section():
    cfg = load_config(MINIMAL)
    assert cfg.task.loss == "mse"
    assert cfg.train.optimizer == "adam" and cfg.train.early_stopping.monitor == "val_loss"
    assert cfg.model.hidden == [64, 64]


def test_classification_defaults_to_cross_entropy():
    assert load_config({**MINIMAL, "task": {"type": "classification"}}).task.loss == "cross_entropy"


def test_dotted_overrides_are_parsed_as_yaml():
    cfg = load_config(MINIMAL, ["train.lr=0.003", "model.hidden=[32, 16]", "train.grad_clip=1",
                                "train.early_stopping.enabled=false"])
    assert cfg.train.lr == 0.003 and cfg.model.hidden == [32, 16]
    assert cfg.train.grad_clip == 1.0 and cfg.train.early_stopping.enabled is False


def test_keyword_overrides_use_double_underscores():
    assert parse_overrides({"train__lr": 0.1}) == {"train.lr": 0.1}


def test_override_without_equals_sign_is_explained():
    with pytest.raises(UserError, match="key=value"):
        load_config(MINIMAL, ["train.lr"])


@pytest.mark.parametrize("override, expected", [
    ("train.optimiser=adam", "did you mean 'optimizer'"),
    ("model.hiden=[3]", "did you mean 'hidden'"),
    ("trian.lr=1", "did you mean 'train'"),
])
def test_unknown_keys_suggest_the_closest(override, expected):
    with pytest.raises(UserError, match=expected):
        load_config(MINIMAL, [override])


def test_no_validation_split_watches_training_loss():
    cfg = load_config(MINIMAL, ["data.split.method=none"])
    assert cfg.train.early_stopping.monitor == "loss"


def test_config_round_trips_through_its_resolved_dump():
    cfg = load_config(MINIMAL, ["train.betas=[0.8, 0.99]"])
    assert Config.model_validate(cfg.model_dump(mode="json")) == cfg


def test_relative_data_paths_are_read_from_the_config_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "table.csv").write_text("a,b\n1,2\n")
    (tmp_path / "sub" / "cfg.yaml").write_text("data: {source: table.csv, target: b}\n")
    cfg = load_config(tmp_path / "sub" / "cfg.yaml")
    assert cfg.data.source == str((tmp_path / "sub" / "table.csv").resolve())


def test_nesterov_needs_sgd_with_momentum():
    with pytest.raises(UserError, match="nesterov"):
        load_config(MINIMAL, ["train.nesterov=true"])
