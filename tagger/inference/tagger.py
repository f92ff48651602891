"""Tagger: load a model file and tag raw text, pre-tokenised sentences or CoNLL-U.

The prediction itself (batching, the CLE cache, decoding) is `tagger.model.predictor`, shared
with scoring; this layer adds what a user starts from: text and files, tokenization, and
tagged sentences to read or write.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch

from tagger.data.conllu_io import Sentence
from tagger.data.vocab import Vocabularies
from tagger.errors import TaggerError
from tagger.inference.documents import INPUT_FORMATS, TaggedDocument, TaggedSentence, read_input, read_tokenized
from tagger.inference.tokenizer import Tokenizer
from tagger.model.model_file import ModelBundle, load_model
from tagger.model.network import TaggerNetwork
from tagger.model.predictor import FormEmbeddingCache, Predictor

_UD_TREEBANK = re.compile(r"([a-z]{2,3})_[a-z0-9]+")


def model_language(provenance: dict) -> str | None:
    """The language a model was trained for: recorded, or read off a UD treebank name like "en_ewt"."""
    if provenance.get("language"):
        return provenance["language"]
    match = _UD_TREEBANK.fullmatch(str(provenance.get("data", "")))
    return match.group(1) if match else None


class Tagger:
    """Tags sentences with a trained model. Create with `Tagger.load(path_or_name)`."""

    def __init__(
        self,
        bundle: ModelBundle,
        batch_tokens: int = 4096,
        cache_size: int = 50_000,
        threads: int | None = None,
        language: str | None = None,
    ) -> None:
        """`language` picks the raw-text tokenizer rules; by default the model's training data says."""
        self.bundle = bundle
        self.language = language or model_language(bundle.provenance)
        self._tokenizer: Tokenizer | None = None
        self.predictor = Predictor(bundle, batch_tokens, cache_size)
        self.columns = bundle.columns
        if threads:
            torch.set_num_threads(threads)

    @classmethod
    def load(cls, path_or_name: str | Path, **options) -> Tagger:
        """Load a model file, or a model shipped with the package by name (e.g. "en_ewt")."""
        from tagger.inference.shipped import resolve_model

        return cls(load_model(resolve_model(path_or_name)), **options)

    @property
    def network(self) -> TaggerNetwork:
        return self.predictor.network

    @property
    def vocabs(self) -> Vocabularies:
        return self.predictor.vocabs

    @property
    def cache(self) -> FormEmbeddingCache:
        return self.predictor.cache

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            self._tokenizer = Tokenizer(self.language)
        return self._tokenizer

    # -- text in, tagged sentences out ----------------------------------------------------------

    def tag(
        self,
        data: str | Sequence[Sequence[str]],
        input_format: str = "auto",
        probabilities: bool = False,
    ) -> TaggedDocument:
        """Tag raw text, a list of token lists, or CoNLL-U text.

        `input_format` is "raw", "tokenized", "conllu" or "auto" (a string that starts like
        CoNLL-U is CoNLL-U, any other string raw text, a list pre-tokenised). With
        `probabilities`, every token carries the probability of each predicted tag.
        """
        if input_format != "auto" and input_format not in INPUT_FORMATS:
            raise TaggerError(f"unknown input format {input_format!r}: use auto, {', '.join(INPUT_FORMATS)}")
        if not isinstance(data, str):
            if input_format not in ("auto", "tokenized"):
                raise TaggerError(f"{input_format} input must be a string, got {type(data).__name__}")
            sentences = list(read_tokenized(data))
        else:
            stream = io.BytesIO(data.encode("utf-8"))
            sentences = list(read_input(stream, "<string>", input_format, lambda: self.tokenizer))
        self.predict([s.sentence for s in sentences], probabilities)
        for sentence in sentences:
            sentence.columns = self.columns
        return TaggedDocument(sentences)

    def tag_stream(
        self, sentences: Iterable[TaggedSentence], probabilities: bool = False, chunk_sentences: int = 2000
    ) -> Iterator[TaggedSentence]:
        """Tag sentences from `tagger.inference.documents.read_input` in chunks: memory stays flat."""
        iterator = iter(sentences)
        while chunk := list(itertools.islice(iterator, chunk_sentences)):
            self.predict([s.sentence for s in chunk], probabilities)
            for sentence in chunk:
                sentence.columns = self.columns
            yield from chunk

    def predict(self, sentences: list[Sentence], probabilities: bool = False) -> list[Sentence]:
        """Fill the predicted columns of sentence records in place and return them (see `Predictor.predict`)."""
        return self.predictor.predict(sentences, probabilities)
