"""Container stacks: which image a rule runs in, the pins each stack declares, and image digests.

One Apptainer image per dependency stack (style guide B1): ``containers/<stack>.def`` built from
the pins in ``envs/<stack>.yaml``, both equal to ``envs/constraints.txt``. Images live as
``<paths.containers>/<stack>.sif``; the sha256 of the image a job ran in is recorded in its
provenance (read from ``<image>.sha256`` beside the image, computed once if that is missing).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import Any

import yaml

from benchmarks.core import REPO_ROOT
from benchmarks.core.io import write_text

CONTAINERS_DIR = REPO_ROOT / "containers"
ENVS_DIR = REPO_ROOT / "envs"
CPU_STACK = "eval"  # data, splits, evaluation, aggregation and report run on CPU
SECTIONS = ("%labels", "%help", "%files", "%environment", "%post", "%test", "%runscript")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9._+!-]+)$")
_OPTIONS_WITH_VALUE = {"-c", "-r", "--constraint", "--index-url", "--extra-index-url"}
_REQ = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:[=<>!~].*)?$")


def normalize(name: str) -> str:
    """PEP 503 name: ``Hydra_Core`` and ``hydra-core`` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def stacks() -> list[str]:
    """Stacks that have a definition file."""
    return sorted(p.stem for p in CONTAINERS_DIR.glob("*.def"))


def image_path(containers_root: str | Path, stack: str) -> str:
    """Where the image of ``stack`` lives (what a rule's ``container:`` names)."""
    if stack not in stacks():
        raise ValueError(f"unknown container stack {stack!r}: no containers/{stack}.def "
                         f"(known: {stacks()}); fix the method's card.yaml `stack:`")
    return str(Path(containers_root) / f"{stack}.sif")


def parse_requirement(token: str) -> tuple[str, str | None]:
    """``name==1.0`` -> (normalized name, "1.0"); anything not pinned exactly -> (name, None)."""
    pinned = _PIN.match(token)
    if pinned:
        return normalize(pinned.group(1)), pinned.group(2)
    loose = _REQ.match(token)
    if loose is None:
        raise ValueError(f"cannot read requirement {token!r}")
    return normalize(loose.group(1)), None


def def_sections(text: str) -> dict[str, str]:
    """The ``%section`` bodies of an Apptainer definition, plus ``header`` (Bootstrap/From)."""
    parts: dict[str, list[str]] = {"header": []}
    current = "header"
    for line in text.splitlines():
        if re.match(r"^%[a-z]+", line):
            current = line.split()[0]
            parts[current] = []
        else:
            parts[current].append(line)
    return {name: "\n".join(lines) for name, lines in parts.items()}


def def_requirements(text: str) -> dict[str, str | None]:
    """Packages the ``pip install`` commands of ``%post`` name, with their exact pin or None."""
    post = def_sections(text).get("%post", "")
    joined = re.sub(r"\\\n", " ", post)  # join continued lines
    found: dict[str, str | None] = {}
    for line in joined.splitlines():
        if "pip install" not in line:
            continue
        words = line.split("pip install", 1)[1].split()
        for previous, word in zip(["", *words], words, strict=False):
            if word.startswith("-") or previous in _OPTIONS_WITH_VALUE:
                continue
            name, version = parse_requirement(word)
            found[name] = version
    return found


def env_requirements(path: str | Path) -> dict[str, str | None]:
    """The pip requirements of a conda ``envs/<stack>.yaml``, with their exact pin or None."""
    spec = yaml.safe_load(Path(path).read_text())
    pip: list[str] = []
    for item in spec.get("dependencies", []):
        if isinstance(item, dict):
            pip += item.get("pip", [])
    return dict(parse_requirement(req) for req in pip if not req.startswith("-"))


def lock_versions(path: str | Path = ENVS_DIR / "constraints.txt") -> dict[str, str]:
    """``envs/constraints.txt`` as {normalized name: version}."""
    pins = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = parse_requirement(line)
            if version is None:
                raise ValueError(f"{path}: {line!r} is not pinned with ==")
            pins[name] = version
    return pins


def stack_problems(stack: str) -> list[str]:
    """Everything that disagrees between a stack's .def, its env file and the lock (empty = ok)."""
    text = (CONTAINERS_DIR / f"{stack}.def").read_text()
    in_def = def_requirements(text)
    in_env = env_requirements(ENVS_DIR / f"{stack}.yaml")
    lock = lock_versions()
    problems = [f"{stack}.def: missing section {s}" for s in SECTIONS if s not in text]
    problems += [f"{stack}: {name} not pinned with ==" for name, version in
                 {**in_def, **in_env}.items() if version is None]
    if in_def != in_env:
        problems.append(f"containers/{stack}.def installs {sorted(in_def.items())} but "
                        f"envs/{stack}.yaml lists {sorted(in_env.items())}")
    problems += [f"{stack}: {name}=={version} but envs/constraints.txt has {lock[name]}"
                 for name, version in in_env.items() if name in lock and lock[name] != version]
    return problems


def image_sha256(image: str | Path) -> tuple[str | None, str]:
    """The image's sha256 and where it came from: ``sidecar``, ``computed`` or ``missing``.

    ``<image>.sha256`` (``sha256sum`` format, written at build time) is trusted when it is newer
    than the image; otherwise the digest is computed once and cached there if writable.
    """
    image, sidecar = Path(image), Path(f"{image}.sha256")
    if not image.is_file():
        return None, "missing"
    if sidecar.is_file() and sidecar.stat().st_mtime >= image.stat().st_mtime:
        return sidecar.read_text().split()[0], "sidecar"
    digest = hashlib.sha256()
    with image.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            digest.update(block)
    # a read-only image store only loses the cache: the digest is still recorded in provenance
    with contextlib.suppress(OSError):
        write_text(sidecar, f"{digest.hexdigest()}  {image.name}\n")
    return digest.hexdigest(), "computed"


def current() -> dict[str, Any] | None:
    """Provenance of the container this process runs in (``None`` outside Apptainer)."""
    image = os.environ.get("APPTAINER_CONTAINER") or os.environ.get("SINGULARITY_CONTAINER")
    if not image:
        return None
    sha256, source = image_sha256(image)
    return {"image": image, "stack": os.environ.get("SAMSEG_STACK"), "sha256": sha256,
            "sha256_source": source}
