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


@pytest.mark.parametrize("override, message", [
    ("+method.max_step=300", "adding or deleting keys (+) is refused; method.max_step must be"),
    ("~method.lr", "adding or deleting keys (~) is refused"),
    ("method.max_steps=-5", "method.max_steps=-5: must be >= 0"),
    ("method.batch_size=0", "method.batch_size=0: must be >= 1"),
    ("method.lr=-1", "method.lr=-1.0: must be > 0"),
    ("method.variant=huge", "method.variant='huge': use one of ['base', 'tiny']"),
    ("method.2x=1", "the key 'method.2x' is not dotted names"),
], ids=["added_key", "deleted_key", "negative_steps", "zero_batch", "negative_lr",
        "unknown_variant", "key_with_a_leading_digit"])
def test_added_keys_and_out_of_range_values_are_refused_at_composition(override: str,
                                                                       message: str) -> None:
    """Issue 19 items 8 and 10: each of these trained and exited 0, or failed with a traceback."""
    with pytest.raises(config.ConfigError) as err:
        config.compose_run(["method=resnet_seg", *BASE, override])
    assert message in str(err.value)


def test_every_methods_defaults_pass_the_range_checks() -> None:
    """A zero-shot card's lr of 0 is not a training rate; every method composes as shipped."""
    for method in registry.list_methods():
        for variant in ("base", "tiny"):
            config.compose_run([f"method={method}", *BASE, f"method.variant={variant}"])


@pytest.mark.parametrize("root", ["/data/Bäder und Ärzte", "/data/it's here", "/data/a b"],
                         ids=["non_ascii_and_spaces", "quote", "spaces"])
def test_a_path_typed_by_hand_is_quoted_for_hydra(root: str) -> None:
    """Issue 19 item 14: such a path worked through Snakemake (which quotes it) but was a Hydra
    parse traceback typed by hand in the CLI."""
    cfg = config.compose_run([*BASE, f"dataset.root={root}"], with_method=False)
    assert cfg.dataset.root == root


def test_an_unparseable_structured_value_says_how_to_quote() -> None:
    with pytest.raises(config.ConfigError, match=r"quote its value for Hydra: dataset.window="):
        config.compose_run([*BASE, "dataset.window=[-160,240"], with_method=False)
