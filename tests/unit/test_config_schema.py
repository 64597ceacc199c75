"""config.yaml validates against the schema; a broken copy is rejected with the key named."""

from __future__ import annotations

import copy

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from tests.conftest import REPO

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def _config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_shipped_config_validates() -> None:
    validate(_config(), SCHEMA)


@pytest.mark.parametrize("mutate, word", [
    (lambda c: c.update(fold=[0]), "fold"),
    (lambda c: c["datasets"]["synthetic_bus"].update(rooot="x"), "rooot"),
    (lambda c: c["methods"].update({"Bad-Id": {}}), "Bad-Id"),
], ids=["top_level_typo", "dataset_typo", "bad_method_id"])
def test_broken_copy_is_rejected(mutate, word: str) -> None:
    cfg = copy.deepcopy(_config())
    mutate(cfg)
    with pytest.raises(WorkflowError, match=word):
        validate(cfg, SCHEMA)


def test_override_keys_with_digits_validate() -> None:
    """Issue 9 item 7: the fix an error message proposes (method.weights_sha256=...) must pass."""
    cfg = copy.deepcopy(_config())
    cfg["methods"]["yolo_seg"]["overrides"].append(f"method.weights_sha256={'ab' * 32}")
    cfg["datasets"]["synthetic_bus"]["overrides"].append("dataset.n_folds=3")
    validate(cfg, SCHEMA)
    cfg["methods"]["yolo_seg"]["overrides"].append("Method.lr=1")
    with pytest.raises(WorkflowError, match="Method.lr"):
        validate(cfg, SCHEMA)


def test_override_key_part_starting_with_a_digit_is_rejected_at_parse_time() -> None:
    """Issue 19 item 10: `method.2x=1` passed the schema and Hydra then failed with a parse
    traceback in the job."""
    cfg = copy.deepcopy(_config())
    cfg["methods"]["yolo_seg"]["overrides"].append("method.2x=1")
    with pytest.raises(WorkflowError, match=r"method\.2x=1"):
        validate(cfg, SCHEMA)
