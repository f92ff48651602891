"""Vocabularies come from train only; the one batch encoding and bucketing respect the token budget and deduplicate forms."""

from __future__ import annotations

import torch

from tagger.data.conllu_io import Sentence, read_conllu
from tagger.data.vocab import Vocab, Vocabularies, build_vocabularies
from tagger.prediction.predictor import by_length
from tagger.training.sampler import TokenBudgetBatchSampler
from tagger.model.encoding import clip_form, collate, encode_sentences

from conftest import SAMPLE_DEV, SAMPLE_TRAIN


def _tagged(forms: list[str], tags: list[str]) -> Sentence:
    sentence = Sentence.from_forms(forms)
    sentence.set_column("upos", tags)
    return sentence


def encode_corpus(sentences: list[Sentence], vocabs: Vocabularies, columns=(), max_word_chars: int = 32):
    """As the training data module encodes a corpus: tags included, characters encoded once."""
    tags = {column: [s.column(column) for s in sentences] for column in columns}
    return encode_sentences([s.forms for s in sentences], vocabs, max_word_chars, tags).with_characters(vocabs.chars)


def test_word_vocab_applies_min_freq_and_keeps_specials_first():
    sentences = [_tagged(["the", "cat"], ["DET", "NOUN"]), _tagged(["the", "dog"], ["DET", "NOUN"])]
    vocabs = build_vocabularies(sentences, ["upos"], min_word_freq=2)
    assert vocabs.words.itos == ["<pad>", "<unk>", "the"]
    assert vocabs.words.index("cat") == 1
    assert vocabs.tags["upos"].to_list() == ["DET", "NOUN"]


def test_vocabularies_survive_a_json_round_trip():
    vocabs = build_vocabularies(read_conllu(SAMPLE_TRAIN), ["upos", "feats"], 1)
    again = Vocabularies.from_dict(vocabs.to_dict())
    assert again.words.itos == vocabs.words.itos and again.chars.itos == vocabs.chars.itos
    assert again.tags["feats"].itos == vocabs.tags["feats"].itos


def test_unknown_dev_tags_map_to_unk():
    vocab = Vocab(["NOUN"])
    assert vocab.indices(["NOUN", "NEWTAG"]) == [2, 1]


def test_batches_stay_within_the_token_budget_and_cover_every_sentence():
    lengths = [len(s) for s in read_conllu(SAMPLE_TRAIN)]
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=300, shuffle=True, seed=1)
    batches = list(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= 300


def test_ddp_ranks_get_disjoint_equal_shares():
    lengths = [5] * 100
    shares = [list(TokenBudgetBatchSampler(lengths, 50, True, seed=3, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(shares[0]) == len(shares[1])
    first = {i for batch in shares[0] for i in batch}
    second = {i for batch in shares[1] for i in batch}
    assert first | second == set(range(100)) and not first & second


def test_training_and_inference_cut_batches_alike():
    lengths = [len(s) for s in read_conllu(SAMPLE_DEV)]
    evaluation = list(TokenBudgetBatchSampler(lengths, 400, shuffle=False))
    assert evaluation == by_length(lengths, 400)


def test_collate_computes_each_distinct_form_once():
    sentences = [_tagged(["a", "b", "a"], ["X", "Y", "X"]), _tagged(["b", "c"], ["Y", "Z"])]
    vocabs = build_vocabularies(sentences, ["upos"], 1)
    batch = collate(encode_corpus(sentences, vocabs, ["upos"]), [0, 1])
    assert batch["form_chars"].shape[0] == 3  # a, b, c
    index = batch["form_index"]
    assert index[0, 0] == index[0, 2] and index[0, 1] == index[1, 0]
    assert batch["tags.upos"].tolist() == [[2, 3, 2], [3, 4, 0]]  # 0 pads the shorter sentence
    assert batch["lengths"].tolist() == [3, 2]


def test_overlong_words_are_clipped_to_their_ends():
    word = "a" * 5000 + "xyz"
    assert len(clip_form(word, 32)) == 32 and clip_form(word, 32).endswith("xyz")
    corpus = encode_corpus([_tagged([word], ["X"])], build_vocabularies([_tagged([word], ["X"])], ["upos"], 1))
    assert corpus.form_chars.shape[1] == 34  # 32 characters plus begin/end markers
    wider = encode_corpus([_tagged([word], ["X"])], build_vocabularies([_tagged([word], ["X"])], ["upos"], 1), max_word_chars=64)
    assert wider.form_chars.shape[1] == 66


def test_forms_that_clip_alike_share_one_character_row():
    long_a, long_b = "a" * 40 + "tion", "a" * 41 + "tion"
    vocabs = build_vocabularies([_tagged([long_a, long_b], ["X", "X"])], ["upos"], 1)
    batch = collate(encode_corpus([_tagged([long_a, long_b], ["X", "X"])], vocabs), [0])
    assert batch["form_chars"].shape[0] == 1 and batch["words"][0, 0] != batch["words"][0, 1]


def test_dev_corpus_uses_train_vocabularies():
    vocabs = build_vocabularies(read_conllu(SAMPLE_TRAIN), ["upos"], 1)
    corpus = encode_corpus(read_conllu(SAMPLE_DEV), vocabs, ["upos"])
    all_ids = corpus.word_ids
    assert (all_ids == 1).any()  # some dev words are unseen in train
    assert int(all_ids.max()) < len(vocabs.words)
