"""Pretrained word vectors: text files with or without header, vocabulary extension, clear errors."""

from __future__ import annotations

import pytest
import torch

from tagger.data.vocab import Vocab, Vocabularies
from tagger.errors import DataFormatError, TaggerError
from tagger.training.word_vectors import prepare_word_vectors, read_word_vectors
from tagger.model.word_embedding import WordEmbedding

VECTORS = "casa 1.0 0.0 0.0\nLisboa 0.0 1.0 0.0\nrio 0.0 0.0 1.0\nnova 0.5 0.5 0.0\n"


def vocabs(words: list[str]) -> Vocabularies:
    return Vocabularies(words=Vocab(words), chars=Vocab([]), tags={"misc:NER": Vocab(["O"])})


def model_config(path, dim: int = 3, **options) -> dict:
    return {"word_dim": dim, "word_embeddings": {"pretrained": str(path), **options}}


def test_header_line_is_optional(tmp_path):
    plain, headed = tmp_path / "plain.txt", tmp_path / "headed.vec"
    plain.write_text(VECTORS)
    headed.write_text("4 3\n" + VECTORS)
    a, b = read_word_vectors(plain), read_word_vectors(headed)
    assert a.words == b.words == ["casa", "Lisboa", "rio", "nova"]
    assert torch.equal(a.vectors, b.vectors)


def test_restricted_vocabulary_keeps_train_words_and_uses_lowercase_vectors(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text(VECTORS)
    new_vocabs, vectors = prepare_word_vectors(model_config(path), vocabs(["Casa", "Lisboa", "ponte"]))
    assert new_vocabs.words.itos == ["<pad>", "<unk>", "Casa", "Lisboa", "ponte"]
    assert vectors.words == ["casa", "Lisboa"]
    embedding = WordEmbedding(len(new_vocabs.words), 3, word_dropout=0.0)
    assert vectors.initialise(embedding.embedding.weight, new_vocabs.words) == 2
    row = embedding.embedding.weight[new_vocabs.words.index("Casa")]
    assert torch.allclose(row / row.norm(), torch.tensor([1.0, 0.0, 0.0]))  # same direction, rescaled


def test_extended_vocabulary_adds_the_file_words_after_the_train_words(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text(VECTORS)
    new_vocabs, _ = prepare_word_vectors(model_config(path, extend_vocab=True, max_vectors=3), vocabs(["rio", "ponte"]))
    assert new_vocabs.words.itos == ["<pad>", "<unk>", "rio", "ponte", "casa", "Lisboa"]


def test_dimension_mismatch_names_both_dimensions(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text(VECTORS)
    with pytest.raises(TaggerError, match=r"3-dimensional vectors, but model.word_dim=256"):
        prepare_word_vectors(model_config(path, dim=256), vocabs(["casa"]))


def test_ragged_vector_line_names_file_and_line(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("casa 1.0 0.0 0.0\nrio 0.0 1.0\n")
    with pytest.raises(DataFormatError, match=r"v\.txt:2: expected a word and 3 numbers"):
        read_word_vectors(path)


def test_no_pretrained_file_leaves_vocabularies_alone():
    original = vocabs(["casa"])
    assert prepare_word_vectors({"word_dim": 3, "word_embeddings": {"pretrained": None}}, original) == (original, None)
