"""The embedded synthetic data is deterministic and has the properties the demo relies on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.data import synthetic
from benchmarks.data.loaders import synthetic_bus, synthetic_ct


def test_same_seed_same_pixels() -> None:
    a, ma = synthetic.bus_image(7, with_lesion=True)
    b, mb = synthetic.bus_image(7, with_lesion=True)
    assert np.array_equal(a, b) and np.array_equal(ma, mb)
    assert not np.array_equal(a, synthetic.bus_image(8, with_lesion=True)[0])


def test_lesion_is_hypoechoic() -> None:
    img, mask = synthetic.bus_image(3, with_lesion=True)
    assert img[mask].mean() < 0.6 * img[~mask].mean()


def test_bus_layout_reads_back(bus_root: Path) -> None:
    cfg = synthetic_bus.Config(root=str(bus_root))
    refs = synthetic_bus.list_cases(cfg)
    assert len(refs) == 12 and len({r.patient_id for r in refs}) == 6
    normal = [r for r in refs if r.subset == "normal"]
    assert len(normal) == 2
    sample = synthetic_bus.load_case(normal[0], cfg)
    assert sample.image.shape == (*synthetic.BUS_SHAPE, 3) and sample.image.dtype == np.uint8
    assert not sample.mask.any() and sample.spacing_mm is None


def test_ct_spacing_comes_from_header(ct_root: Path) -> None:
    cfg = synthetic_ct.Config(root=str(ct_root))
    sample = synthetic_ct.load_case(synthetic_ct.list_cases(cfg)[0], cfg)
    assert sample.spacing_mm == pytest.approx(synthetic.CT_SPACING)  # header stores float32
    assert sample.image.shape == synthetic.CT_SHAPE and sample.mask.any()
