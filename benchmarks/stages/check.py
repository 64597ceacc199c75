"""`cli check`: list methods and dataset loaders and validate every method card."""

from __future__ import annotations

from typing import Any

from benchmarks.core import registry

CARD_KEYS = ("display_name", "paper", "upstream", "stack", "dims", "prompt", "backbones",
             "trainer", "resources")
STAGES = ("train", "predict", "evaluate")
TRAINERS = ("harness", "fit", "none")  # none: a zero-shot reference row (nothing is trained)
OPTIONAL_STAGES = ("throughput",)  # falls back to `predict` (workflow/rules/common.smk)
BUDGET_KEYS = {"max_steps", "max_epochs"}
VOLUME_INPUTS = ("slices", "patches")  # how a method consumes volumes; the harness implements these


def card_problems(method_id: str, card: dict[str, Any]) -> list[str]:
    """What is missing or malformed in one card (empty when it is valid)."""
    path = registry.method_card_path(method_id)
    problems = [f"{path}: missing key {key!r}" for key in CARD_KEYS if key not in card]
    resources = card.get("resources") or {}
    for stage in (*STAGES, *(s for s in OPTIONAL_STAGES if s in resources)):
        res = resources.get(stage)
        if not isinstance(res, dict) or not {"gpu", "runtime_min", "mem_gb"} <= set(res):
            problems.append(f"{path}: resources.{stage} needs gpu, runtime_min and mem_gb")
    budget = card.get("recommended_budget", {"max_steps": 0})
    if not isinstance(budget, dict) or not budget or not set(budget) <= BUDGET_KEYS:
        problems.append(f"{path}: recommended_budget takes max_steps and/or max_epochs")
    if card.get("resize", "squash") not in ("squash", "letterbox"):  # data.batches.GEOMETRIES
        problems.append(f"{path}: resize must be squash or letterbox (training geometry)")
    if card.get("trainer") not in TRAINERS:
        problems.append(f"{path}: trainer must be one of {', '.join(TRAINERS)}")
    if card.get("trainer") == "none" and not str(card.get("zero_shot_reason") or "").strip():
        problems.append(f"{path}: trainer none needs zero_shot_reason (why nothing is trained)")
    if not set(card.get("dims", [])) <= {"2d", "3d"}:
        problems.append(f"{path}: dims must be a subset of [2d, 3d]")
    if "3d" in card.get("dims", []) and card.get("volumes") not in VOLUME_INPUTS:
        problems.append(f"{path}: a 3d method needs volumes: one of {list(VOLUME_INPUTS)} "
                        "(how it consumes a volume)")
    if card.get("interactive", False) and card.get("prompt") != "box":
        problems.append(f"{path}: interactive: true needs prompt: box (round 0 is the box; "
                        "methods/_api.py, Interactive methods)")
    return problems + phase_problems(path, card.get("phases"))


def phase_problems(path: object, phases: Any) -> list[str]:
    """A multi-phase card's ``phases:``: a list of {name, evaluate} with distinct names."""
    if phases is None:
        return []
    listed = phases if isinstance(phases, list) else []
    names = [p.get("name") for p in listed if isinstance(p, dict)]
    if len(names) < 2 or len(set(names)) != len(names) or not all(
            isinstance(n, str) and registry.ID_PATTERN.match(n) for n in names):
        return [f"{path}: phases must list 2 or more {{name: [a-z0-9_]+, evaluate: bool}} "
                "with distinct names"]
    return [f"{path}: phase {p['name']}: oof_of must name an earlier phase (whose out-of-fold "
            "predictions it trains on), and the last phase cannot have one"
            for i, p in enumerate(listed) if p.get("oof_of") is not None
            and (p["oof_of"] not in names[:i] or i == len(listed) - 1)]


def markdown_table() -> str:
    """The README's method table, generated from the cards."""
    lines = ["| id | method | backbones | dims | prompt | trainer |", "|---|---|---|---|---|---|"]
    for method_id in registry.list_methods():
        card = registry.read_card(method_id)
        lines.append(f"| `{method_id}` | {card['display_name']} | {', '.join(card['backbones'])} "
                     f"| {', '.join(card['dims'])} | {card['prompt']} | {card['trainer']} |")
    return "\n".join(lines)


def run(markdown: bool = False) -> int:
    """Print the inventory (or the markdown table); return 1 when a card is invalid."""
    problems = [p for m in registry.list_methods() for p in card_problems(m, registry.read_card(m))]
    if markdown:
        print(markdown_table())
    else:
        print("methods:", ", ".join(registry.list_methods()))
        print("dataset loaders:", ", ".join(registry.list_loaders()))
    for problem in problems:
        print("problem:", problem)
    return 1 if problems else 0
