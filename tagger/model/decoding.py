"""Constrained Viterbi decoding for entity tags: the best tag sequence that is valid IOB2.

Per-token argmax can output `O I-PER` or `B-LOC I-PER`, which is no entity at all in strict
IOB2. Decoding maximises the sum of the softmax log-probabilities over the sequences the
scheme allows instead, so every predicted span is well formed; no parameters are learnt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from tagger.data.iob import OUTSIDE, looks_like_entity_tags, split_tag
from tagger.data.vocab import PAD, UNK, Vocab


def iob2_transitions(itos: Sequence[str]) -> tuple[Tensor, Tensor]:
    """`allowed[previous, current]` and `allowed_start[current]` for a tag vocabulary in IOB2.

    `I-X` may only follow `B-X` or `I-X`; the vocabulary's `<pad>` and `<unk>` are never allowed.
    """
    size = len(itos)
    kinds = [None if tag in (PAD, UNK) else split_tag(tag) for tag in itos]
    allowed = torch.zeros(size, size, dtype=torch.bool)
    start = torch.zeros(size, dtype=torch.bool)
    for current, kind in enumerate(kinds):
        if kind is None:
            continue
        prefix, tag_type = kind
        start[current] = prefix != "I"
        for previous, previous_kind in enumerate(kinds):
            if previous_kind is not None:
                allowed[previous, current] = prefix != "I" or (previous_kind[0] != OUTSIDE and previous_kind[1] == tag_type)
    return allowed, start


def viterbi_decode(scores: Tensor, lengths: Tensor, allowed: Tensor, allowed_start: Tensor) -> Tensor:
    """Best allowed tag ids [batch, time] for per-token `scores` [batch, time, tags]; padding gets 0."""
    batch, time, _ = scores.shape
    forbidden = torch.tensor(float("-inf"), device=scores.device, dtype=scores.dtype)
    transitions = torch.where(allowed.to(scores.device), torch.zeros((), device=scores.device, dtype=scores.dtype), forbidden)
    best = torch.where(allowed_start.to(scores.device), scores[:, 0], forbidden)
    lengths = lengths.to(scores.device)
    backpointers = []
    for t in range(1, time):
        candidates, previous = (best[:, :, None] + transitions).max(dim=1)
        active = (t < lengths)[:, None]
        best = torch.where(active, candidates + scores[:, t], best)  # finished sequences keep their score
        backpointers.append(previous)
    current = best.argmax(dim=-1)
    tags = torch.zeros(batch, time, dtype=torch.long, device=scores.device)
    rows = torch.arange(batch, device=scores.device)
    for t in range(time - 1, 0, -1):
        inside = t < lengths
        tags[:, t] = torch.where(inside, current, 0)
        current = torch.where(inside, backpointers[t - 1][rows, current], current)
    tags[:, 0] = torch.where(lengths > 0, current, 0)
    return tags


class EntityDecoder:
    """Viterbi over IOB2 for one tag vocabulary; the transition masks are built once."""

    def __init__(self, itos: Sequence[str]) -> None:
        self.allowed, self.allowed_start = iob2_transitions(itos)

    def __call__(self, logits: Tensor, lengths: Tensor) -> Tensor:
        return viterbi_decode(logits.float().log_softmax(-1), lengths, self.allowed, self.allowed_start)


def entity_decoders(tags: Mapping[str, Vocab]) -> dict[str, EntityDecoder]:
    """A decoder for each column whose tag set is entity tags (O, B-X, I-X); POS columns get none."""
    return {column: EntityDecoder(vocab.itos) for column, vocab in tags.items() if looks_like_entity_tags(vocab.to_list())}
