"""Constrained Viterbi: never an invalid IOB2 span, and exactly the best valid sequence."""

from __future__ import annotations

import itertools

import torch

from tagger.data.iob import to_iob2
from tagger.model.decoding import EntityDecoder, iob2_transitions, viterbi_decode

ITOS = ["<pad>", "<unk>", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def is_valid_iob2(tags: list[str]) -> bool:
    return "<pad>" not in tags and "<unk>" not in tags and to_iob2(tags)[1] == 0


def test_decoded_sequences_are_always_valid_iob2_on_random_logits():
    decoder = EntityDecoder(ITOS)
    for seed in range(200):
        generator = torch.Generator().manual_seed(seed)
        lengths = torch.randint(1, 12, (6,), generator=generator)
        logits = 4 * torch.randn(6, int(lengths.max()), len(ITOS), generator=generator)
        ids = decoder(logits, lengths)
        for row, length in enumerate(lengths.tolist()):
            tags = [ITOS[i] for i in ids[row, :length].tolist()]
            assert is_valid_iob2(tags), (seed, tags)
            assert ids[row, length:].eq(0).all()


def test_viterbi_finds_the_best_valid_sequence_by_exhaustive_search():
    allowed, start = iob2_transitions(ITOS)
    for seed in range(30):
        scores = torch.randn(1, 4, len(ITOS), generator=torch.Generator().manual_seed(seed)).log_softmax(-1)
        best = max(
            (path for path in itertools.product(range(2, len(ITOS)), repeat=4) if is_valid_iob2([ITOS[i] for i in path])),
            key=lambda path: sum(scores[0, t, i].item() for t, i in enumerate(path)),
        )
        assert viterbi_decode(scores, torch.tensor([4]), allowed, start)[0].tolist() == list(best)


def test_a_valid_argmax_is_left_unchanged():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "O"]
    logits = torch.full((1, 5, len(ITOS)), -3.0)
    for t, tag in enumerate(tags):
        logits[0, t, ITOS.index(tag)] = 3.0
    assert [ITOS[i] for i in EntityDecoder(ITOS)(logits, torch.tensor([5]))[0].tolist()] == tags


def test_an_inside_tag_after_outside_is_turned_into_a_valid_span():
    logits = torch.full((1, 3, len(ITOS)), -5.0)
    logits[0, 0, ITOS.index("O")] = 5.0
    logits[0, 1, ITOS.index("I-PER")] = 5.0
    logits[0, 1, ITOS.index("B-PER")] = 4.0
    logits[0, 2, ITOS.index("I-PER")] = 5.0
    assert [ITOS[i] for i in EntityDecoder(ITOS)(logits, torch.tensor([3]))[0].tolist()] == ["O", "B-PER", "I-PER"]
