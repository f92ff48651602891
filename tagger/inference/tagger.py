"""Tagger: load a model file and tag raw text, pre-tokenised sentences or CoNLL-U.

The prediction itself (batching, the CLE cache, decoding) is `tagger.model.predictor`, shared
with scoring; this layer adds what a user starts from: text and files, tokenization, and
tagged sentences to read or write.
"""

from __future__ import annotations

import io
import itertools
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch

from tagger.data.conllu_io import Sentence
from tagger.data.tokens import RawTextTokenizer
from tagger.data.vocab import Vocabularies
from tagger.errors import TaggerError
from tagger.inference.documents import TaggedDocument, TaggedSentence
from tagger.inference.readers import INPUT_FORMATS, read_input, read_tokenized
from tagger.inference.languages import check_language
from tagger.inference.tokenizer import Tokenizer
from tagger.model.model_file import ModelBundle, load_model
from tagger.model.network import TaggerNetwork
from tagger.model.predictor import FormEmbeddingCache, Predictor

log = logging.getLogger(__name__)
TOKENIZERS = ("auto", "learned", "rules")
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
        precision: str = "auto",
        tokenizer: str = "auto",
    ) -> None:
        """`tokenizer` is how raw text becomes sentences and tokens: "learned" (the segmenter the model
        carries, trained on its treebank's raw text), "rules" (the rule tokenizer), or "auto": learned
        where the model has a segmenter. `language` (an ISO 639 code) picks the rules; by default the
        model's training data says. `precision` is the forward pass's arithmetic (see `Predictor`):
        "auto", "float32" or "bfloat16"."""
        if tokenizer not in TOKENIZERS:
            raise TaggerError(f"unknown tokenizer {tokenizer!r}: use {', '.join(TOKENIZERS)}")
        if tokenizer == "learned" and bundle.segmenter is None:
            raise TaggerError("this model has no learned segmenter (its training data had no raw text): use the rules")
        self.tokenizer_kind = "learned" if tokenizer != "rules" and bundle.segmenter is not None else "rules"
        self.bundle = bundle
        trained_for = model_language(bundle.provenance)
        if language is not None:
            check_language(language)
            if trained_for and language != trained_for:
                log.warning("language %s given, but the model was trained on %s text", language, trained_for)
        self.language = language or trained_for
        self._tokenizer: Tokenizer | None = None  # the rules, built on first use
        self.predictor = Predictor(bundle, batch_tokens, cache_size, precision)
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
    def tokenizer(self) -> RawTextTokenizer:
        """What splits raw text into sentences and tokens: the model's segmenter, or the rules."""
        if self.tokenizer_kind == "learned":
            return self.bundle.segmenter
        if self._tokenizer is None:
            self._tokenizer = Tokenizer(self.language)
        return self._tokenizer

    # -- text in, tagged sentences out ----------------------------------------------------------

    def tag(
        self,
        data: str | Sequence[Sequence[str]],
        input_format: str = "auto",
        probabilities: bool = False,
        top_k: int = 0,
    ) -> TaggedDocument:
        """Tag one text and return its sentences (a `TaggedDocument`).

        What `data` may be, and what comes back:

        - a string of raw text: split into sentences and tokens, each token with character
          offsets (`start`, `end`) into the string; multiword tokens become their words;
        - a string of CoNLL-U: its sentences and words as they are, the predicted columns filled
          and every other field kept;
        - a list of token lists (`[["I", "like", "it", "."], ...]`): one sentence per list, the
          tokens as given (no offsets).

        `input_format` ("raw", "conllu", "tokenized" or "auto") says which; "auto" tells a CoNLL-U
        string from raw text by its first token line. A list of plain strings is refused: to tag
        many texts use `pipe`, and pre-tokenised lines of space-separated tokens need
        `input_format="tokenized"`.

        `probabilities`: every token gets `probabilities[column]`, the model's probability of its
        predicted tag (a softmax score; label smoothing in training keeps it below 1, so read
        it as a confidence ranking rather than a calibrated chance). `top_k`: every token gets
        `top_k[column]`, its k most probable tags with their probabilities.
        """
        sentences = self._read(data, input_format)
        self.predict([s.sentence for s in sentences], probabilities, top_k)
        for sentence in sentences:
            sentence.columns = self.columns
        return TaggedDocument(sentences)

    def pipe(
        self, texts: Iterable[str], batch_size: int = 256, input_format: str = "auto", probabilities: bool = False,
        top_k: int = 0,
    ) -> Iterator[TaggedDocument]:
        """Tag many texts: one `TaggedDocument` per text, in order, as a generator.

        Texts are tagged `batch_size` at a time, their sentences batched together, so many short
        texts tag as fast as one long one, and memory stays flat however many texts come.
        """
        iterator = iter(texts)
        while group := list(itertools.islice(iterator, batch_size)):
            documents = [self._read(text, input_format) for text in group]
            self.predict([s.sentence for document in documents for s in document], probabilities, top_k)
            for document in documents:
                for sentence in document:
                    sentence.columns = self.columns
                yield TaggedDocument(document)

    def _read(self, data: str | Sequence[Sequence[str]], input_format: str) -> list[TaggedSentence]:
        if input_format != "auto" and input_format not in INPUT_FORMATS:
            raise TaggerError(f"unknown input format {input_format!r}: use auto, {', '.join(INPUT_FORMATS)}")
        if isinstance(data, str):
            stream = io.BytesIO(data.encode("utf-8"))
            return list(read_input(stream, "<string>", input_format, lambda: self.tokenizer))
        if input_format not in ("auto", "tokenized"):
            raise TaggerError(f"{input_format} input must be a string, got {type(data).__name__}")
        items = list(data)
        if input_format == "auto" and any(isinstance(item, str) for item in items):
            raise TaggerError(
                "tag() takes one text; for a list of texts use pipe(texts), and for pre-tokenised "
                "sentences pass lists of tokens (or lines with input_format='tokenized')"
            )
        return list(read_tokenized(items))

    def tag_stream(
        self, sentences: Iterable[TaggedSentence], probabilities: bool = False, chunk_sentences: int = 2000, top_k: int = 0
    ) -> Iterator[TaggedSentence]:
        """Tag sentences from `tagger.inference.documents.read_input` in chunks: memory stays flat."""
        iterator = iter(sentences)
        while chunk := list(itertools.islice(iterator, chunk_sentences)):
            self.predict([s.sentence for s in chunk], probabilities, top_k)
            for sentence in chunk:
                sentence.columns = self.columns
            yield from chunk

    def predict(self, sentences: list[Sentence], probabilities: bool = False, top_k: int = 0) -> list[Sentence]:
        """Fill the predicted columns of sentence records in place and return them (see `Predictor.predict`)."""
        return self.predictor.predict(sentences, probabilities, top_k)
