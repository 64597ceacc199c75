"""The self-sorting memory bank of Medical SAM2's 2D pipeline (methods-spec 3.3).

Each entry keeps what SAM2's memory encoder made of one image and its predicted mask (64-d
features and their positional encoding at stride 16), the mask decoder's predicted IoU, and the
image's flattened (memory-conditioned) embedding. New images sample ``n`` entries, with
replacement, with probability softmax(cosine(own embedding, stored embedding)), and their
memory attention attends to those entries.

State rules (ours, so that the bank never crosses a train/test boundary):

- the bank lives on the model object, never in its ``state_dict``: a trained ``model.pt``
  carries no bank, and every evaluation run starts empty;
- a switch between ``train()`` and ``eval()`` empties it;
- in training it is per epoch (the reference keeps a list per epoch): the harness draws each
  epoch as one permutation of the training samples, so the first batch that repeats a sample
  of the current epoch starts the next one and empties the bank;
- an image never reads entries written by itself or its batch-mates (in the reference the bank
  is read before the batch is written), and writing a key that is already stored replaces it,
  so predicting the same image twice gives the same answer.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

BANK_SIZE = 16  # cfg.py -memory_bank_size 16 (validation: hard-coded 16)
IOU_SLACK = 0.1  # func_2d/function.py: replace only if iou_new > iou_old - 0.1
SAMPLING_SEED = 0  # ours: the bank's own generator, re-seeded on every reset (deterministic runs)


@dataclass
class Entry:
    """One stored image: memory features and pos-enc ``[C_mem, h, w]``, IoU, flat embedding."""

    key: Hashable
    features: torch.Tensor
    pos: torch.Tensor
    iou: float
    embed: torch.Tensor


class MemoryBank:
    """A bounded list of :class:`Entry` with the reference's replacement rule."""

    def __init__(self, size: int = BANK_SIZE) -> None:
        if size < 2:
            raise ValueError(f"method.memory_bank_size={size}: the replacement rule needs >= 2")
        self.size = size
        self.reset(training=False)

    def reset(self, training: bool) -> None:
        """Empty the bank for a new epoch or evaluation run."""
        self.entries: list[Entry] = []
        self.training = training
        self.seen: set[Hashable] = set()  # keys written in the current training epoch
        self.batches = 0  # batches decoded since the reset (the method's prompt_every counter)
        self.generator = torch.Generator().manual_seed(SAMPLING_SEED)

    def sync(self, training: bool, keys: list[Hashable]) -> None:
        """Start a new bank on a train/eval switch or, in training, at an epoch boundary."""
        if training != self.training or (training and self.seen.intersection(keys)):
            self.reset(training)

    def sample(self, query: torch.Tensor, n: int, exclude: set[Hashable]
               ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Memory tokens for a batch of flat embeddings ``query [B, D]``.

        Returns ``(memory, memory_pos)`` as ``[n * h * w, B, C_mem]`` (seq-first, what
        ``MemoryAttention`` takes: image b attends to its own ``n`` sampled entries), or ``None``
        when no readable entry exists.
        """
        readable = [e for e in self.entries if e.key not in exclude]
        if not readable:
            return None
        stored = F.normalize(torch.stack([e.embed for e in readable]).to(query), dim=1)
        weights = F.softmax(F.normalize(query.detach(), dim=1) @ stored.t(), dim=1)  # [B, N]
        picks = torch.multinomial(weights.cpu(), n, replacement=True, generator=self.generator)
        feats = torch.stack([e.features for e in readable]).to(query)  # [N, C, h, w]
        pos = torch.stack([e.pos for e in readable]).to(query)

        def tokens(stack: torch.Tensor) -> torch.Tensor:
            chosen = stack[picks.to(stack.device)]  # [B, n, C, h, w]
            return chosen.flatten(3).permute(1, 3, 0, 2).flatten(0, 1)  # [n*h*w, B, C]

        return tokens(feats), tokens(pos)

    def add(self, entry: Entry) -> bool:
        """Store ``entry``; returns whether it was kept.

        Same key: replaces the old entry. Not full: appended. Full (reference rule): find the
        stored entry least similar to the new one (cosine of flattened memory features), then
        the stored entry most similar to *that* one; if the new entry is less similar to the
        former than the latter is, and its predicted IoU > the latter's - 0.1, it replaces the
        latter (the bank keeps diverse, confident memories).
        """
        self.seen.add(entry.key)
        same = [i for i, e in enumerate(self.entries) if e.key == entry.key]
        if same:
            self.entries[same[0]] = entry
            return True
        if len(self.entries) < self.size:
            self.entries.append(entry)
            return True
        stored = F.normalize(torch.stack([e.features.flatten() for e in self.entries]), dim=1)
        pairwise = stored @ stored.t()
        pairwise.fill_diagonal_(float("-inf"))
        to_new = stored @ F.normalize(entry.features.flatten().to(stored), dim=0)
        least = int(torch.argmin(to_new))
        nearest = int(torch.argmax(pairwise[least]))
        if to_new[least] < pairwise[least, nearest] and \
                entry.iou > self.entries[nearest].iou - IOU_SLACK:
            self.entries.pop(nearest)
            self.entries.append(entry)
            return True
        return False
