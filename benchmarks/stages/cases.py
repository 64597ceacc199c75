"""A run's data: the dataset loader, its split and its pinned prompts (no torch: evaluate uses it).

Turning samples into method batches is :mod:`benchmarks.data.batches` (the torch side).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from omegaconf import DictConfig

from benchmarks.core import registry
from benchmarks.data import prompts, splits, volumes
from benchmarks.data.base import CaseRef, DataError, Sample, check_min_size
from benchmarks.runs import config, grid


@dataclass
class RunData:
    """The dataset side of one run."""

    loader: ModuleType
    dcfg: Any  # the loader's Config instance
    split: dict[str, Any]
    split_sha256: str
    refs: dict[str, CaseRef]
    protocol: prompts.Protocol | None = None  # None: the method takes no prompts
    prompts: dict[str, Any] | None = None  # the pinned prompts document of the run
    prompts_sha256: str | None = None

    def case_ids(self, fold: int, part: str) -> list[str]:
        """Sorted ids of the test fold or of the training folds."""
        return splits.select(self.split, fold, part)

    def load(self, case_id: str) -> Sample:
        """Pixels of one case (raises ``DataError`` naming the file on bad input, and before
        reading a volume larger than ``dataset.max_volume_mb``)."""
        if self.is_volume:
            volumes.check_size(self.refs[case_id].image, self.dcfg)
        sample = self.loader.load_case(self.refs[case_id], self.dcfg)
        check_min_size(sample, self.refs[case_id].image, self.dcfg.min_size)
        return sample

    @property
    def is_volume(self) -> bool:
        """3D data: 2D methods see it slice by slice (:mod:`benchmarks.data.volumes`)."""
        return self.dcfg.dims == "3d"

    def training_samples(self, case_ids: list[str], mcfg: Any, seed: int) -> Iterator[Sample]:
        """2D training samples: the images themselves, or the sampled slices of each volume."""
        for case_id in case_ids:
            sample = self.load(case_id)
            if self.is_volume:
                yield from volumes.training_samples(sample, self.dcfg, mcfg, seed)
            else:
                yield sample

    def prompt(self, case_id: str) -> dict[str, Any] | None:
        """The case's entry of the prompts file (original pixel coordinates), or None."""
        return None if self.prompts is None else prompts.for_case(self.prompts, case_id)

    def sample_prompt(self, sample: Sample) -> dict[str, Any] | None:
        """The prompt of a 2D sample; a volume slice gets its volume's entry for that slice
        (none listed: the slice holds no foreground, so the box is NaN as for an empty image).
        A box or click that does not fit the image is a ``DataError`` naming the case (a
        per-case ``bad_input`` of predict)."""
        if "volume_id" not in sample.meta:
            found = self.prompt(sample.case_id)
        else:
            whole = self.prompt(sample.meta["volume_id"])
            z = sample.meta["slice_index"]
            found = None if whole is None else next(
                (s for s in whole["slices"] if s["slice"] == z), {"status": "empty_mask"})
        problem = None if found is None else prompts.prompt_problem(found, sample.mask.shape)
        if problem:
            raise DataError(f"prompts file of {self.prompts['dataset_id']}, case "
                            f"{sample.case_id}: {problem}; regenerate it with `cli prompts`")
        return found

    def training_prompt(self, sample: Sample, rng: Any) -> dict[str, Any] | None:
        """A training prompt drawn afresh from the sample's reference (box jitter, clicks) with
        the run's protocol, every time the sample is batched; ``rng``: the run's seeded numpy
        generator. The pinned prompts are for prediction only: reusing one drawn box for every
        step is the seed notebook's cached-box bug (methods-spec 7.3, Part 10)."""
        if self.protocol is None:
            return None
        return prompts.image_prompts(sample.mask, self.protocol, rng)

    def training_prompt_note(self, seed: int) -> str | None:
        """What provenance records about the training prompts (None: an unprompted run)."""
        if self.protocol is None:
            return None
        what = (f"box, each side 0-{self.protocol.jitter_px} px outwards" if self.protocol.box
                else f"{self.protocol.n_pos} positive / {self.protocol.n_neg} negative clicks")
        return (f"{self.protocol.name}: {what}, drawn afresh from the reference every time a "
                f"sample is batched (numpy generator seeded {seed}); pinned prompts at predict")

    def prompt_note(self, case_id: str, depth: int) -> str:
        """Which slices of a volume were prompted (recorded in the case's row); '' otherwise."""
        if self.protocol is None or not self.is_volume:
            return ""
        given = [s["slice"] for s in self.prompt(case_id).get("slices", [])]
        note = (f"{self.protocol.name}: {len(given)} of {depth} slices prompted "
                f"({min(given, default='-')}-{max(given, default='-')})")
        return note if len(given) == depth else (
            f"{note}; the other slices hold no reference foreground and get no prompt "
            "(NaN box, no clicks)")


def uses_patches(cfg: DictConfig, data: RunData) -> bool:
    """A 3D dataset and a method whose card declares ``volumes: patches`` (the 3D path of
    :mod:`benchmarks.data.patches`); other 3D runs are slice by slice."""
    card = registry.read_card(config.method_id(cfg))
    return data.is_volume and card.get("volumes") == "patches"


def open_run(cfg: DictConfig) -> RunData:
    """Load the split named by ``cfg.split_file`` and list the dataset's cases."""
    loader, dcfg = config.dataset_config(cfg)
    split, sha = splits.read_split(cfg.split_file)
    refs = {ref.case_id: ref for ref in loader.list_cases(dcfg)}
    unknown = sorted(set(split["cases"]) - set(refs))
    if unknown:
        raise splits.SplitError(f"{cfg.split_file}: cases {unknown[:5]} are not in {dcfg.root}; "
                                "the data changed since the split was written: delete and rerun")
    if cfg.prompt == grid.NO_PROMPT:
        return RunData(loader, dcfg, split, sha, refs)
    if not cfg.prompts_file:
        raise prompts.PromptError(f"prompt={cfg.prompt} needs prompts_file=<path> "
                                  "(written by `cli prompts`)")
    doc, prompts_sha = prompts.read_prompts(cfg.prompts_file, sha)
    if doc["protocol"]["name"] != cfg.prompt:
        raise prompts.PromptError(f"{cfg.prompts_file}: holds protocol "
                                  f"{doc['protocol']['name']}, the run asks for {cfg.prompt}")
    return RunData(loader, dcfg, split, sha, refs, prompts.parse_protocol(cfg.prompt), doc,
                   prompts_sha)
