"""The throughput stage's timing logic with a fake clock and toy methods (no timed assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from benchmarks.core import timing
from benchmarks.runs import throughput_plan
from benchmarks.stages import throughput

REPO_ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    """Each call to ``tick(ms)`` advances the time; ``__call__`` reads it in seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def tick(self, ms: float) -> None:
        self.now += ms / 1e3


def test_warmup_calls_are_not_timed() -> None:
    clock, durations = FakeClock(), iter([500.0, 400.0, 10.0, 20.0, 30.0, 40.0])
    times = timing.time_calls(lambda: clock.tick(next(durations)), warmup=2, iters=4,
                              clock=clock)
    assert times == pytest.approx([10.0, 20.0, 30.0, 40.0])


def test_percentiles_of_known_times() -> None:
    out = timing.summarize_ms([float(i) for i in range(1, 101)])
    assert out["latency_ms_p50"] == pytest.approx(50.5)
    assert out["latency_ms_p90"] == pytest.approx(90.1)
    assert out["latency_ms_p99"] == pytest.approx(99.01)
    assert out["latency_ms_mean"] == pytest.approx(50.5)


_RSS_PROBE = """
import torch
from benchmarks.core import timing
cpu = torch.device("cpu")
timing.reset_peaks(cpu)
before = timing.read_peaks(cpu)["peak_rss_mib"]
block = bytearray(64 * 2**20)
block[::4096] = b"\\x01" * len(block[::4096])  # touch every page
grown = timing.read_peaks(cpu)["peak_rss_mib"]
del block
timing.reset_peaks(cpu)
print(before, grown, timing.read_peaks(cpu)["peak_rss_mib"])
"""


def test_peak_rss_is_reset_between_measurements() -> None:
    # a fresh process: in a long pytest run freed heap pages stay resident, so a new 64 MiB block
    # need not raise the peak at all (seen at 3.1 GiB RSS after the whole suite)
    out = subprocess.run([sys.executable, "-c", _RSS_PROBE], capture_output=True, text=True,
                         check=True, cwd=REPO_ROOT).stdout.split()
    before, grown, after = map(float, out)
    assert grown - before > 50 and after < grown


class ToyModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.decoder = torch.nn.Conv2d(4, 1, 1)


class ToyModule:
    """A method with the encode/decode split that runs out of memory from batch 4 on."""

    oom_from = 4

    @staticmethod
    def encode(model, batch, cfg):
        if batch["image"].shape[0] >= ToyModule.oom_from:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return model.encoder(batch["image"])

    @staticmethod
    def decode(model, features, batch, cfg):
        return torch.sigmoid(model.decoder(features))

    @staticmethod
    def predict(model, batch, cfg):
        return ToyModule.decode(model, ToyModule.encode(model, batch, cfg), batch, cfg)


def _session(max_batch: int = 16) -> throughput.Session:
    session = throughput.Session.__new__(throughput.Session)  # skip build: toy model
    session.cfg = OmegaConf.create({"warmup": 1, "iters": 3, "batch_iters": 2, "seed": 0,
                                    "max_batch": max_batch, "dtype": "float32"})
    session.module, session.model = ToyModule, ToyModel().eval()
    session.mcfg, session.device = SimpleNamespace(), torch.device("cpu")
    session.size, session.shape, session.prompt = 16, (3, 16, 16), "box"
    return session


def test_oom_ends_the_sweep_as_a_row_never_a_smaller_batch() -> None:
    rows = throughput.offline_rows(_session())
    assert [(r["batch"], r["status"]) for r in rows] == [(1, "ok"), (2, "ok"), (4, "oom")]
    assert rows[-1]["stop_reason"] == "oom at batch 4" and "simulated" in rows[-1]["error"]
    assert all(r["images_per_s"] > 0 for r in rows[:2])


def test_sweep_stops_at_the_cap_and_says_so() -> None:
    rows = throughput.offline_rows(_session(max_batch=2))
    assert [r["batch"] for r in rows] == [1, 2] and rows[-1]["stop_reason"].startswith("cap 2")


def test_split_hooks_give_encoder_and_decoder_rows() -> None:
    rows = throughput.latency_rows(_session())
    assert [r["mode"] for r in rows] == ["latency", "encoder", "decoder"]
    assert all(r["status"] == "ok" and r["n_iters"] == 3 for r in rows)


def test_flops_of_a_known_convolution() -> None:
    session = _session()
    # conv 3->4 3x3 on 16x16 plus conv 4->1 1x1: 2 FLOPs per multiply-add
    expected = 2 * (16 * 16 * 4 * 3 * 9 + 16 * 16 * 1 * 4)
    assert throughput.count_flops(session) == expected


def test_synthetic_batch_carries_the_prompt_kind() -> None:
    box = throughput.synthetic_batch("box", 2, 64, torch.device("cpu"))
    assert box["image"].shape == (2, 3, 64, 64) and box["box"][0].tolist() == [16, 16, 48, 48]
    point = throughput.synthetic_batch("point", 1, 64, torch.device("cpu"))
    assert point["points"].shape == (1, 1, 2) and point["point_labels"].tolist() == [[1]]
    assert set(throughput.synthetic_batch("none", 1, 8, torch.device("cpu"))) == {"image", "meta"}


def test_a_3d_patch_method_is_timed_on_its_patch() -> None:
    from benchmarks.runs import config

    cfg = config.compose_throughput(["method=unet3d", "method.variant=tiny", "device=cpu",
                                     "method.patch_size=[32,32,16]", "warmup=1", "iters=2",
                                     "batch_iters=1", "max_batch=2"])
    table = throughput.measure(cfg)
    assert list(table["mode"]) == ["latency", "offline", "offline"]
    assert (table["status"] == "ok").all() and (table["input_shape"] == "1x32x32x16").all()
    assert (table["size"] == 32).all() and table["flops_b1"].iloc[0] > 0
    assert table["stop_reason"].iloc[-1].startswith("cap 2")


CONFIG = {"methods": {"resnet_seg": {"backbones": ["resnet18", "resnet34"],
                                     "overrides": ["method.image_size=128"]},
                      "yolo_seg": None},
          "paths": {"checkpoints": "checkpoints"}}


def test_throughput_grid_is_method_backbone_size_once() -> None:
    cells = throughput_plan.cells(CONFIG)
    assert cells == [{"method": "resnet_seg", "backbone": "resnet18", "size": "128"},
                     {"method": "resnet_seg", "backbone": "resnet34", "size": "128"},
                     {"method": "yolo_seg", "backbone": "l", "size": "native"}]
    sized = throughput_plan.cells(CONFIG | {"throughput": {"sizes": [256, 512]}})
    assert [c["size"] for c in sized] == ["256", "512"] * 3


def test_overrides_put_the_size_before_the_method_overrides() -> None:
    text = throughput_plan.overrides(CONFIG | {"throughput": {"overrides": ["iters=5"]}},
                                     "resnet_seg", "resnet34", "256")
    assert text.split() == ["method=resnet_seg", "method.backbone=resnet34", "size=256",
                            "paths.checkpoints=checkpoints", "method.image_size=128", "iters=5"]


def test_headline_takes_the_largest_batch_that_fitted() -> None:
    base = {"method": "m", "backbone": "b", "size": 64, "device": "cuda", "dtype": "float32"}
    rows = [base | {"mode": "latency", "batch": 1, "status": "ok", "latency_ms_p50": 5.0},
            base | {"mode": "offline", "batch": 1, "status": "ok", "images_per_s": 150.0},
            base | {"mode": "offline", "batch": 2, "status": "ok", "images_per_s": 280.0},
            base | {"mode": "offline", "batch": 4, "status": "oom", "stop_reason": "oom at 4"}]
    head = throughput_plan.headline(pd.DataFrame(rows)).iloc[0]
    assert (head["best_batch"], head["images_per_s"], head["latency_ms_p50"]) == (2, 280.0, 5.0)
    assert head["status"] == "ok" and head["stop_reason"] == "oom at 4"


def test_a_method_own_throughput_overrides_come_last() -> None:
    """A method that costs seconds per image on a CPU (LiteMedSAM, issue 20) shortens its own
    timing runs without changing the other methods' (``methods.<id>.throughput``)."""
    config = CONFIG | {"throughput": {"overrides": ["iters=5"]}}
    config["methods"] = CONFIG["methods"] | {"yolo_seg": {"throughput": ["iters=2", "warmup=1"]}}
    assert throughput_plan.overrides(config, "yolo_seg", "l", "native").split()[-3:] == [
        "iters=5", "iters=2", "warmup=1"]
    assert throughput_plan.overrides(config, "resnet_seg", "resnet34", "256").split()[-1] == (
        "iters=5")
