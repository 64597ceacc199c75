"""Hydra composition: defaults, overrides, and errors that name the offending key."""

from __future__ import annotations

import pytest

from benchmarks.core import registry
from benchmarks.runs import config

BASE = ["dataset=synthetic_bus", "dataset_id=x"]


def test_method_defaults_and_override() -> None:
    cfg = config.compose_run(["method=yolo_seg", *BASE, "method.max_epochs=3"])
    assert cfg.method.max_epochs == 3
    assert cfg.method.conf == 0.25  # ultralytics default kept
    assert config.method_id(cfg) == "yolo_seg"
    assert config.method_cfg(cfg).frozen == []


@pytest.mark.parametrize("override, key", [
    ("method.max_epoch=3", "max_epoch"),
    ("dataset.n_fold=3", "n_fold"),
    ("evl.threshold=0.3", "evl"),
], ids=["method_key", "dataset_key", "top_level_key"])
def test_misspelled_key_is_an_error_naming_it(override: str, key: str) -> None:
    with pytest.raises(config.ConfigError, match=key):
        config.compose_run(["method=yolo_seg", *BASE, override])


def test_wrong_type_names_key() -> None:
    with pytest.raises(config.ConfigError, match="max_epochs"):
        config.compose_run(["method=yolo_seg", *BASE, "method.max_epochs=many"])


def test_unknown_method_id_lists_known_ones() -> None:
    with pytest.raises(registry.UnknownIdError, match="known: .*resnet_seg"):
        config.compose_run(["method=nope", *BASE])


def test_unknown_dataset_loader() -> None:
    with pytest.raises(registry.UnknownIdError, match="dataset loader id 'nope'"):
        config.compose_run(["method=yolo_seg", "dataset=nope", "dataset_id=x"])
