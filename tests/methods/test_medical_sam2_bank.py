"""Medical SAM2's self-sorting memory bank (methods/medical_sam2/bank.py) on hand-made entries
whose similarities are known: the replacement rule, similarity-weighted sampling, the state
rules (epoch, train/eval switch, own entries never read)."""

from __future__ import annotations

import math

import pytest
import torch

from methods.medical_sam2.bank import Entry, MemoryBank


def _entry(key: str, features: list[float], iou: float = 0.5,
           embed: list[float] | None = None) -> Entry:
    feats = torch.tensor(features, dtype=torch.float32).reshape(len(features), 1, 1)  # [C,1,1]
    return Entry(key, feats, feats + 10, iou, torch.tensor(embed or features, dtype=torch.float32))


def _full_bank() -> MemoryBank:
    bank = MemoryBank(size=3)
    for entry in (_entry("a", [1, 0, 0], 0.55), _entry("b", [0.9, 0.1, 0], 0.55),
                  _entry("c", [0, 1, 0], 0.55)):
        assert bank.add(entry)
    return bank


def test_full_bank_replaces_the_nearest_neighbour_of_the_least_similar_entry() -> None:
    bank = _full_bank()
    # least similar to the new one: a (cos < 0); a's nearest stored neighbour: b (cos 0.994);
    # cos(new, a) < 0.994 and IoU 0.5 > 0.55 - 0.1: b is replaced
    assert bank.add(_entry("new", [-0.1, 0.2, 1], iou=0.5))
    assert [e.key for e in bank.entries] == ["a", "c", "new"]


def test_full_bank_keeps_its_entries_when_the_new_iou_is_too_low() -> None:
    bank = _full_bank()
    assert not bank.add(_entry("new", [-0.1, 0.2, 1], iou=0.44))  # 0.44 < 0.55 - 0.1
    assert [e.key for e in bank.entries] == ["a", "b", "c"]


def test_full_bank_refuses_an_entry_closer_than_the_closest_stored_pair() -> None:
    bank = MemoryBank(size=3)
    for key, feats in (("x", [1, 0, 0]), ("y", [0, 1, 0]), ("z", [0, 0, 1])):  # pairwise cos 0
        bank.add(_entry(key, feats))
    assert not bank.add(_entry("new", [1, 1, 1], iou=0.9))  # cos 0.577 to every entry > 0
    assert [e.key for e in bank.entries] == ["x", "y", "z"]


def test_same_key_replaces_and_bank_never_exceeds_its_size() -> None:
    bank = MemoryBank(size=3)
    for i in range(5):
        bank.add(_entry(f"k{i}", [math.cos(i), math.sin(i), 0.1 * i]))
    assert len(bank.entries) == 3
    kept = bank.entries[0].key
    bank.add(_entry(kept, [0, 0, 5], iou=0.0))  # a repeated image: its own entry is replaced
    assert len(bank.entries) == 3 and torch.equal(bank.entries[0].features.flatten(),
                                                  torch.tensor([0.0, 0.0, 5.0]))


def test_sampling_is_softmax_of_cosine_similarity_and_skips_excluded_keys() -> None:
    bank = MemoryBank(size=4)
    embeds = {"same": [1.0, 0.0], "orth": [0.0, 1.0], "opp": [-1.0, 0.0], "own": [1.0, 0.0]}
    for tag, (key, emb) in enumerate(embeds.items(), start=1):
        bank.add(_entry(key, [float(tag), 0.0], embed=emb))  # feature 1..4 names the entry
    query = torch.tensor([[2.0, 0.0]])  # cos 1, 0, -1 to same, orth, opp
    memory, pos = bank.sample(query, 6000, exclude={"own"})
    assert memory.shape == pos.shape == (6000, 1, 2)  # [n * h * w, B, C_mem]
    torch.testing.assert_close(pos, memory + 10)  # features and pos-enc of the same entries
    freq = torch.stack([(memory[:, 0, 0] == tag).float().mean() for tag in (1, 2, 3, 4)])
    expected = torch.softmax(torch.tensor([1.0, 0.0, -1.0]), 0)  # 0.665, 0.245, 0.090
    torch.testing.assert_close(freq[:3], expected, atol=0.03, rtol=0)
    assert freq[3] == 0  # "own" is never read
    assert bank.sample(query, 3, exclude=set(embeds)) is None


def test_a_new_epoch_and_a_train_eval_switch_empty_the_bank() -> None:
    bank = MemoryBank(size=4)
    bank.sync(True, ["a", "b"])
    bank.add(_entry("a", [1, 0]))
    bank.add(_entry("b", [0, 1]))
    bank.sync(True, ["c", "d"])  # same epoch: nothing repeats
    assert len(bank.entries) == 2
    bank.sync(True, ["d", "a"])  # "a" again: the harness started the next epoch
    assert bank.entries == [] and bank.training
    bank.add(_entry("d", [1, 1]))
    bank.sync(False, ["d"])  # train -> eval: a fresh bank for the evaluation run
    assert bank.entries == [] and not bank.training
    bank.add(_entry("t", [1, 1]))
    bank.sync(False, ["t"])  # evaluation never resets on a repeat (it replaces the entry)
    assert len(bank.entries) == 1


def test_bank_needs_room_for_the_rule() -> None:
    with pytest.raises(ValueError, match="memory_bank_size"):
        MemoryBank(size=1)
