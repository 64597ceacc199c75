"""sam2 (facebookresearch/sam2 = PyPI ``sam2==1.1.0``) models built without Hydra.

``sam2.build_sam.build_sam2`` composes its config through Hydra's global state, which the harness
clears and re-creates for its own config (cpu-feasibility 3.4, pitfall 5), and it defaults to
``device="cuda"`` (pitfall 1). We read the packaged yaml with OmegaConf and instantiate its
``_target_`` tree ourselves, on the CPU, with the same overrides ``build_sam2`` applies.
"""

from __future__ import annotations

import importlib
from importlib.resources import files
from pathlib import Path
from typing import Any, NamedTuple

import torch
from omegaconf import OmegaConf
from torch import nn

from methods._api import WeightsError, load_state_strict
from methods._api import read_checkpoint as read_file

# Our backbone ids (result-path safe: no "+") -> the suffix of sam2's config names.
BACKBONES = {"hiera_t": "t", "hiera_s": "s", "hiera_b_plus": "b+", "hiera_l": "l"}
UPSTREAM_SIZE = 1024  # sam2 configs: model.image_size
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # sam2/utils/transforms.py SAM2Transforms
IMAGENET_STD = (0.229, 0.224, 0.225)  # sam2/utils/transforms.py SAM2Transforms
# build_sam2(apply_postprocessing=True): fall back to multimask output when one mask is unstable.
POSTPROCESSING = {
    "dynamic_multimask_via_stability": True,
    "dynamic_multimask_stability_delta": 0.05,
    "dynamic_multimask_stability_thresh": 0.98,
}


def config_path(backbone: str, version: str = "2.1") -> Path:
    """The packaged yaml of a backbone (``configs/sam2.1/sam2.1_hiera_t.yaml`` etc.)."""
    if backbone not in BACKBONES:
        raise ValueError(f"method.backbone={backbone!r}: use one of {sorted(BACKBONES)}")
    if version not in ("2", "2.1"):
        raise ValueError(f"sam2 version {version!r}: use '2' or '2.1'")
    prefix = "sam2" if version == "2" else "sam2.1"
    name = f"{prefix}_hiera_{BACKBONES[backbone]}.yaml"
    return Path(str(files("sam2") / "configs" / prefix / name))


def instantiate(node: Any) -> Any:
    """Build the ``_target_`` tree of a plain (resolved) config, depth first."""
    if isinstance(node, dict):
        args = {k: instantiate(v) for k, v in node.items() if k != "_target_"}
        if "_target_" not in node:
            return args
        module, name = node["_target_"].rsplit(".", 1)
        return getattr(importlib.import_module(module), name)(**args)
    if isinstance(node, list):
        return [instantiate(v) for v in node]
    return node


def model_config(backbone: str, image_size: int, version: str = "2.1") -> dict[str, Any]:
    """The ``model:`` section of a backbone's yaml at ``image_size``, as ``build_sam2`` sets it.

    The RoPE tables of memory attention are sized for image_size / 16 (cpu-feasibility 3.2).
    """
    cfg = OmegaConf.to_container(OmegaConf.load(config_path(backbone, version)), resolve=True)
    model = cfg["model"]
    model["image_size"] = image_size
    for attention in ("self_attention", "cross_attention"):
        model["memory_attention"]["layer"][attention]["feat_sizes"] = [image_size // 16] * 2
    model.setdefault("sam_mask_decoder_extra_args", {}).update(POSTPROCESSING)
    return model


def build_model(backbone: str, image_size: int, version: str = "2.1") -> nn.Module:
    """A random-init ``SAM2Base`` on the CPU in eval mode (``build_sam2`` without Hydra)."""
    with torch.device("cpu"):  # Hiera calls .item() while building: never on the meta device
        return instantiate(model_config(backbone, image_size, version)).eval()


def build_trunk(backbone: str) -> nn.Module:
    """The Hiera trunk alone (``image_encoder.trunk`` of the yaml); input-size independent."""
    cfg = OmegaConf.to_container(OmegaConf.load(config_path(backbone)), resolve=True)
    with torch.device("cpu"):  # Hiera calls .item() while building: never on the meta device
        return instantiate(cfg["model"]["image_encoder"]["trunk"])


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The state dict of an official checkpoint (``{"model": state_dict}``) or of a file that is
    the state dict itself (what ``torch.save(model.state_dict())`` writes)."""
    ckpt = read_file(path)
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise WeightsError(f"{path} is not a sam2 checkpoint ({{'model': state_dict}}); "
                           "use the official sam2/sam2.1 .pt files named in the card")
    return state


def load_weights(model: nn.Module, path: Path) -> list[str]:
    """An official checkpoint into a full ``SAM2Base``, strictly (nothing re-initialised).

    Keys and shapes do not depend on ``image_size`` (cpu-feasibility 3.2), so a 1024 checkpoint
    also fits a small CPU build.
    """
    return load_state_strict(model, read_checkpoint(path), str(path))


def feature_sizes(image_size: int) -> list[tuple[int, int]]:
    """Backbone feature sizes at strides 4, 8, 16; ``SAM2ImagePredictor._bb_feat_sizes``
    hard-codes them for 1024 (cpu-feasibility 3.2)."""
    return [(image_size // s, image_size // s) for s in (4, 8, 16)]


class Sam2Features(NamedTuple):
    """What ``SAM2ImagePredictor.set_image`` keeps: feature maps at strides 4, 8, 16."""

    maps: list[torch.Tensor]  # high-resolution features first, image embedding last
    original_size: tuple[int, int]


def encode_image(model: nn.Module, image: torch.Tensor) -> Sam2Features:
    """``SAM2ImagePredictor.set_image`` on one image ``[3, H, W]`` in [0, 1], on tensors:
    ``SAM2Transforms`` (resize to ``image_size`` with antialiasing, ImageNet mean/std),
    ``forward_image``, the no-memory embedding. One encoder pass."""
    import torch.nn.functional as F

    size = model.image_size
    x = F.interpolate(image[None], size=(size, size), mode="bilinear", align_corners=False,
                      antialias=True)
    x = (x - x.new_tensor(IMAGENET_MEAN)[:, None, None]) / x.new_tensor(IMAGENET_STD)[:, None, None]
    _, feats, _, _ = model._prepare_backbone_features(model.forward_image(x))
    if model.directly_add_no_mem_embed:
        feats[-1] = feats[-1] + model.no_mem_embed
    maps = [f.permute(1, 2, 0).view(1, -1, *hw) for f, hw in zip(feats, feature_sizes(size),
                                                                  strict=True)]
    return Sam2Features(maps, tuple(image.shape[-2:]))


def decode_box(model: nn.Module, enc: Sam2Features, box: torch.Tensor | None,
               multimask: bool = False, points: torch.Tensor | None = None,
               labels: torch.Tensor | None = None, mask_logits: torch.Tensor | None = None
               ) -> torch.Tensor:
    """``SAM2ImagePredictor.predict(box=..., point_coords=..., point_labels=..., mask_input=...,
    return_logits=True)`` on cached features: box corners (labels 2, 3) first, then the clicks
    ``points`` ``[N, 2]`` (x, y pixels, ``labels`` 1/0), all scaled by ``image_size / (W, H)`` as
    ``_prep_prompts`` + ``_predict`` merge them; ``mask_logits`` ``[1, 1, s/4, s/4]`` as its
    ``mask_input``; prompt encoder, mask decoder with the high-resolution features, bilinear back
    to (H, W). Logits ``[1, H, W]``; with ``multimask`` the mask of the highest predicted IoU."""
    import torch.nn.functional as F

    size, (height, width) = model.image_size, enc.original_size
    device = enc.maps[-1].device
    coords, kinds = [], []
    if box is not None:
        coords.append(box.reshape(2, 2).to(device, torch.float))
        kinds.append(torch.tensor([2, 3], dtype=torch.int, device=device))
    if points is not None:
        coords.append(points.reshape(-1, 2).to(device, torch.float))
        kinds.append(labels.reshape(-1).to(device, torch.int))
    xy = torch.cat(coords)[None].clone()
    xy[..., 0] = xy[..., 0] / width
    xy[..., 1] = xy[..., 1] / height
    sparse, dense = model.sam_prompt_encoder(points=(xy * size, torch.cat(kinds)[None]),
                                             boxes=None, masks=mask_logits)
    low_res, iou, _, _ = model.sam_mask_decoder(
        image_embeddings=enc.maps[-1], image_pe=model.sam_prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
        multimask_output=multimask, repeat_image=False, high_res_features=enc.maps[:-1])
    logits = F.interpolate(low_res, size=(height, width), mode="bilinear", align_corners=False)[0]
    return logits[iou[0].argmax()][None] if multimask else logits


def box_logits(model: nn.Module, image: torch.Tensor, box: torch.Tensor,
               multimask: bool = False) -> torch.Tensor:
    """Mask logits ``[1, H, W]`` of one image ``[3, H, W]`` in [0, 1] and one xyxy pixel box:
    the steps of ``SAM2ImagePredictor.set_image`` + ``predict`` in their order."""
    return decode_box(model, encode_image(model, image), box, multimask)
