"""The report leads with the answer: the headline first after the warnings (or, where the grid
cannot rank, a sentence saying why), published rows matched to a run first, every plotted entry
in a legend, 2D images/s and 3D patches/s on separate axes, a CD diagram only for k >= 3 entries
over N >= 3 datasets; in Chromium (when installed), nothing wider than the 1400 px viewport."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.core.io import write_summary
from benchmarks.report import headline, significance
from benchmarks.stages import aggregate, report


def _metrics(scores: dict[tuple[str, str, str], np.ndarray], weights: str = "w.pt",
             training: str = "trained") -> pd.DataFrame:
    rows = []
    for (dataset, method, backbone), values in scores.items():
        for i, v in enumerate(values):
            rows.append({"dataset": dataset, "method": method, "backbone": backbone,
                         "prompt": "none", "variant": "tiny", "fold": 0, "seed": 0,
                         "weights": weights, "training": training, "trained_on": dataset,
                         "case_id": f"c{i}", "subset": "lesion", "empty_ref": False,
                         "empty_pred": False, "distance_unit": "px", "dice": v,
                         "iou": v / (2 - v), "hd95": 20 * (1 - v), "status": "ok",
                         "hd95_definition": "max_directed", "empty_policy": "one",
                         "nsd_tolerance": 2.0, "threshold": 0.5})
    return pd.DataFrame(rows)


def _throughput(entries: list[tuple[str, str, str]]) -> pd.DataFrame:
    rows = []
    for method, backbone, shape in entries:
        for mode, batch, ips in (("latency", 1, 10.0), ("offline", 1, 10.0), ("offline", 2, 18.)):
            rows.append({"method": method, "backbone": backbone, "size": 64, "device": "cpu",
                         "dtype": "float32", "mode": mode, "batch": batch, "status": "ok",
                         "latency_ms_p50": 100.0, "latency_ms_p90": 110.0,
                         "latency_ms_p99": 120.0, "images_per_s": ips, "input_shape": shape,
                         "params_total": 1000, "params_trainable": 1000, "flops_b1": 1e9,
                         "peak_rss_mib": 300.0, "weights": "random_init",
                         "device_name": "cpu", "stop_reason": "max_batch",
                         "an_extra_wide_column_name_to_make_the_table_wider": "x" * 60})
    return pd.DataFrame(rows)


def write_summary_dir(out: Path, metrics: pd.DataFrame, speed: pd.DataFrame | None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    write_summary(out / "metrics.csv", metrics)
    write_summary(out / "summary.csv", aggregate.summarise(metrics))
    write_summary(out / "status.csv", pd.DataFrame(columns=aggregate.STATUS_COLUMNS))
    if speed is not None:
        write_summary(out / "throughput.csv", speed)
    return out


BASE = np.linspace(0.5, 0.9, 20)
# +m, -m in pairs of equal size, 0.0001 lower on average: a tie in all but the mean
WOBBLE = np.array([(-1) ** i * 0.01 * (i // 2 + 1) for i in range(20)]) - 0.0001
GOOD = {("bus", "esam2_bls", "hiera_t"): BASE,          # fine-tuned SAM-family, best
        ("bus", "resnet_seg", "resnet18"): BASE - 0.2,  # baseline, clearly worse
        ("bus", "sam_zeroshot", "vit_b"): BASE + WOBBLE,  # zero-shot, a hair below
        ("ct", "resnet_seg", "resnet18"): BASE - 0.1,
        ("ct", "unet3d", "dynunet"): BASE}


class _Sections(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.images: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "img":
            self.images.append({k: str(v) for k, v in a.items() if k != "src"})


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("layout")
    metrics = _metrics(GOOD)
    metrics.loc[metrics["method"] == "sam_zeroshot", "training"] = "zero_shot"
    speed = _throughput([("esam2_bls", "hiera_t", "(3, 64, 64)"),
                         ("resnet_seg", "resnet18", "(3, 64, 64)"),
                         ("sam_zeroshot", "vit_b", "(3, 64, 64)"),
                         ("unet3d", "dynunet", "(1, 32, 32, 16)")])
    summary = write_summary_dir(root / "summary", metrics, speed)
    out = root / "report" / "report.html"
    report.run(summary, out)
    return out, out.read_text()


def test_headline_is_the_first_section_after_the_warnings(page: tuple[Path, str]) -> None:
    parser = _Sections()
    parser.feed(page[1])
    assert parser.ids[:3] == ["warnings", "headline", "glance"]


def test_headline_names_best_entry_and_the_test_behind_each_family(page) -> None:
    text = page[1]
    bus = re.search(r"<li><b>bus</b>.*?</li>", text).group(0)
    assert "best is esam2_bls/hiera_t" in bus and "(fine-tuned SAM-family)" in bus
    # 0.2 below on 20 paired cases: significant; 0.0001 below with +-wobble: not distinguishable
    assert "ahead of the best from-scratch baselines entry resnet_seg/resnet18 (-0.200)" in bus
    assert "not distinguishable from the best zero-shot foundation models entry " \
           "sam_zeroshot/vit_b" in bus
    ct = re.search(r"<li><b>ct</b>.*?</li>", text).group(0)
    assert "best is unet3d/dynunet" in ct


def test_no_ranking_for_random_init_or_too_few_cases() -> None:
    few = _metrics({("d", "a", "b"): BASE[:5], ("d", "c", "b"): BASE[:5] - 0.3})
    rows, sentence, reason = headline.dataset_rows(few)
    assert "5 test case(s)" in reason and "2/2^n = 0.0625" in reason
    assert "no ranking" in sentence and "best is" not in sentence
    rand = _metrics({("d", "a", "b"): BASE, ("d", "c", "b"): BASE - 0.3}, weights="random_init")
    _, sentence, reason = headline.dataset_rows(rand)
    assert "random init" in reason and "no ranking" in sentence
    _, _, reason = headline.dataset_rows(_metrics({("d", "a", "b"): BASE}))
    assert reason.startswith("only one entry")
    assert rows[1]["Δ Dice vs top"] == "-0.300"


def test_every_plotted_entry_is_in_the_legend_and_units_are_apart(page) -> None:
    parser = _Sections()
    parser.feed(page[1])
    drawn = [i for i in parser.images if "data-plotted" in i]
    assert drawn, "the Dice-vs-throughput figure carries what it plots"
    for image in drawn:
        plotted, legend = json.loads(image["data-plotted"]), json.loads(image["data-legend"])
        assert set(plotted) <= set(legend), f"not in the legend: {set(plotted) - set(legend)}"
    assert "unet3d/dynunet" in json.loads(drawn[0]["data-plotted"])
    assert "<td>3D patches/s</td>" in page[1] and "<td>2D images/s</td>" in page[1]


def test_published_rows_matched_to_a_run_come_first(page) -> None:
    text = page[1]
    section = text[text.index("<section id='published'>"):]
    section = section[:section.index("</section>")]
    # nothing of this grid matches: one sentence, then one collapsed list of every row
    assert section.index("no published number matches") < section.index("<details>")
    assert section.count("<details>") == 1 and "without a run in this grid" in section


def test_cd_diagram_only_for_three_entries_over_three_datasets(tmp_path: Path) -> None:
    two = _metrics({(d, m, "b"): BASE - 0.1 * i for d in ("d1", "d2")
                    for i, m in enumerate("xyz")})
    text = "".join(significance.stats_sections(two, tmp_path / "f"))
    assert "No critical-difference diagram" in text and "3 entries over 2 datasets" in text
    assert not (tmp_path / "f").exists()
    three = _metrics({(d, m, "b"): BASE - 0.1 * i for d in ("d1", "d2", "d3")
                      for i, m in enumerate("xyz")})
    text = "".join(significance.stats_sections(three, tmp_path / "g"))
    assert "No critical-difference diagram" not in text
    assert (tmp_path / "g" / "cd_dice.png").exists()


def test_chromium_shows_nothing_wider_than_the_page(page, tmp_path: Path) -> None:
    from tests import browser

    reason = browser.missing()
    if reason:
        pytest.skip(reason)
    result = browser.check_page(page[0], tmp_path / "shot.png")
    assert result["errors"] == []
    layout = result["layout"]
    assert layout["overflow"] == [], layout["overflow"]
    assert layout["page_width"] <= layout["viewport_width"]
    assert layout["sections"][:2] == ["warnings", "headline"]
    assert layout["headline_top"] < layout["viewport_height"]  # on the first screen
    for fig in layout["figures"]:
        assert set(fig["plotted"]) <= set(fig["legend"]), fig


def test_provenance_names_the_site_of_each_cell() -> None:
    cells = pd.DataFrame({"cell": ["c1", "c2", "c3"]})
    sites = pd.DataFrame({"cell": ["c1", "c3"], "site": ["cluster-A", "cluster-B"]})
    assert report.with_sites(cells, sites)["site"].tolist() == ["cluster-A", "here",
                                                                 "cluster-B"]
    assert report.with_sites(cells, None)["site"].tolist() == ["here"] * 3
