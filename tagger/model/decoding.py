"""Constrained decoding: only outputs that are well formed.

Entity tags: per-token argmax can output `O I-PER` or `B-LOC I-PER`, which is no entity at all
in strict IOB2. Viterbi maximises the sum of the softmax log-probabilities over the sequences
the scheme allows instead, so every predicted span is well formed; no parameters are learnt.

Lemmas: the head scores edit scripts; a script that cannot apply to a word (it strips more
characters than the word has) is masked, so every lemma is a well-formed, non-empty string.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from tagger.data.iob import OUTSIDE, looks_like_entity_tags, split_tag
from tagger.data.lemma_rules import lemmatise, min_length
from tagger.data.vocab import EDIT_SCRIPTS, PAD, UNK, Vocab, Vocabularies


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

    def to(self, device: torch.device) -> EntityDecoder:
        """The masks moved to where the scores will be, once rather than at every call."""
        self.allowed, self.allowed_start = self.allowed.to(device), self.allowed_start.to(device)
        return self

    def __call__(self, logits: Tensor, lengths: Tensor) -> Tensor:
        return viterbi_decode(logits.float().log_softmax(-1), lengths, self.allowed, self.allowed_start)


class LemmaDecoder:
    """The most probable edit script that applies to each word, applied: lemmas from a lemma head's scores."""

    def __init__(self, itos: Sequence[str], memory: int = 100_000) -> None:
        self.itos = itos
        # pad and unk never apply; a script applies to a word at least as long as it needs
        self.min_lengths = torch.tensor([1 << 30, 1 << 30, *map(min_length, itos[2:])])
        # running text repeats its (script, form) pairs: look the lemma up rather than apply the script again
        self.memory = memory
        self.lemmas: dict[tuple[int, str], str] = {}

    def to(self, device: torch.device) -> LemmaDecoder:
        """The scripts' minimum lengths moved to where the scores will be; masks are then built there."""
        self.min_lengths = self.min_lengths.to(device)
        return self

    def allowed(self, forms: Sequence[Sequence[str]], width: int) -> Tensor:
        """Which scripts apply to which word: [sentences, width, scripts]."""
        lengths = torch.tensor([[len(form) for form in sentence] + [0] * (width - len(sentence)) for sentence in forms],
                               dtype=torch.long, device=self.min_lengths.device).view(len(forms), width)
        return lengths[:, :, None] >= self.min_lengths[None, None, :]

    def lemma(self, script: int, form: str) -> str:
        key = (script, form)
        lemma = self.lemmas.get(key)
        if lemma is None:
            if len(self.lemmas) >= self.memory:
                self.lemmas.clear()
            lemma = self.lemmas[key] = lemmatise(self.itos[script], form)
        return lemma

    def __call__(self, scores: Tensor, forms: Sequence[Sequence[str]]) -> tuple[list[list[str]], Tensor]:
        """(lemmas per sentence, chosen script ids [sentences, time]) for `scores` [sentences, time, scripts]."""
        allowed = self.allowed(forms, scores.shape[1]).to(scores.device)
        best = scores.masked_fill(~allowed, float("-inf")).argmax(-1)
        lemmas = [[self.lemma(i, form) for i, form in zip(ids, sentence)] for ids, sentence in zip(best.tolist(), forms)]
        return lemmas, best


def lemma_decoders(vocabs: Vocabularies) -> dict[str, LemmaDecoder]:
    """A decoder for each column whose classes are edit scripts (the lemma column of models since lemmas)."""
    return {column: LemmaDecoder(vocabs.tags[column].itos) for column, kind in vocabs.encodings.items() if kind == EDIT_SCRIPTS}


def entity_decoders(tags: Mapping[str, Vocab]) -> dict[str, EntityDecoder]:
    """A decoder for each column whose tag set is entity tags (O, B-X, I-X); POS columns get none."""
    return {column: EntityDecoder(vocab.itos) for column, vocab in tags.items() if looks_like_entity_tags(vocab.to_list())}
