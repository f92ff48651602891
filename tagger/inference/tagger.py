"""Tagger: load a model file and tag sentences, fast.

Sentences are tagged in length-sorted batches under `torch.inference_mode`. Character-level
embeddings are cached per word form (bounded LRU), so frequent words skip the character
encoder altogether after their first occurrence.
"""

from __future__ import annotations

import io
import itertools
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor

from tagger.data.batching import clip_form, encode_forms
from tagger.data.conllu_io import Sentence
from tagger.errors import TaggerError
from tagger.inference.documents import (
    INPUT_FORMATS,
    TaggedDocument,
    TaggedSentence,
    looks_like_conllu,
    read_conllu_stream,
    read_raw,
    read_tokenized,
)
from tagger.inference.decoding import entity_decoders
from tagger.inference.tokenizer import Tokenizer
from tagger.model_file import ModelBundle, load_model

_UD_TREEBANK = re.compile(r"([a-z]{2,3})_[a-z0-9]+")


def model_language(provenance: dict) -> str | None:
    """The language a model was trained for: recorded, or read off a UD treebank name like "en_ewt"."""
    if provenance.get("language"):
        return provenance["language"]
    match = _UD_TREEBANK.fullmatch(str(provenance.get("data", "")))
    return match.group(1) if match else None


class FormEmbeddingCache:
    """Bounded LRU cache of CLE vectors keyed by word form; counts hits and misses."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.vectors: OrderedDict[str, Tensor] = OrderedDict()
        self.hits = self.misses = 0

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def clear(self) -> None:
        self.vectors.clear()
        self.hits = self.misses = 0

    def lookup(self, forms: list[str], compute) -> Tensor:
        """Vectors for `forms` (distinct), computing the missing ones with `compute(missing_forms)`."""
        if self.capacity <= 0:
            self.misses += len(forms)
            return compute(forms)
        missing = [form for form in forms if form not in self.vectors]
        self.misses += len(missing)
        self.hits += len(forms) - len(missing)
        if missing:
            for form, vector in zip(missing, compute(missing)):
                self.vectors[form] = vector
        rows = []
        for form in forms:
            self.vectors.move_to_end(form)
            rows.append(self.vectors[form])
        while len(self.vectors) > self.capacity:
            self.vectors.popitem(last=False)
        return torch.stack(rows)


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
        self.network = bundle.network.eval()
        self.vocabs = bundle.vocabs
        self.columns = bundle.columns
        self.entity_decoders = entity_decoders(self.vocabs.tags)  # entity columns decode to valid IOB2 spans
        self.batch_tokens = batch_tokens
        self.cache = FormEmbeddingCache(cache_size)
        if threads:
            torch.set_num_threads(threads)

    @classmethod
    def load(cls, path_or_name: str | Path, **options) -> Tagger:
        """Load a model file, or a model shipped with the package by name (e.g. "en_ewt")."""
        from tagger.inference.models import resolve_model

        return cls(load_model(resolve_model(path_or_name)), **options)

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
        if input_format == "auto":
            if isinstance(data, str):
                input_format = "conllu" if looks_like_conllu(data) else "raw"
            else:
                input_format = "tokenized"
        if input_format not in INPUT_FORMATS:
            raise TaggerError(f"unknown input format {input_format!r}: use auto, {', '.join(INPUT_FORMATS)}")
        if input_format == "tokenized":
            if isinstance(data, str):
                data = data.splitlines()
            sentences = list(read_tokenized(data))
        elif not isinstance(data, str):
            raise TaggerError(f"{input_format} input must be a string, got {type(data).__name__}")
        elif input_format == "raw":
            sentences = list(read_raw(io.StringIO(data), self.tokenizer))
        else:
            sentences = list(read_conllu_stream(io.BytesIO(data.encode("utf-8")), "<string>"))
        self.predict([s.sentence for s in sentences], probabilities)
        for sentence in sentences:
            sentence.columns = self.columns
        return TaggedDocument(sentences)

    def tag_stream(
        self, sentences: Iterable[TaggedSentence], probabilities: bool = False, chunk_sentences: int = 2000
    ) -> Iterator[TaggedSentence]:
        """Tag sentences from a reader of `tagger.inference.documents` in chunks: memory stays flat."""
        iterator = iter(sentences)
        while chunk := list(itertools.islice(iterator, chunk_sentences)):
            self.predict([s.sentence for s in chunk], probabilities)
            for sentence in chunk:
                sentence.columns = self.columns
            yield from chunk

    # -- core ---------------------------------------------------------------------------------

    def _embed_forms(self, forms: list[str]) -> Tensor:
        chars, lengths = encode_forms(forms, self.vocabs.chars)
        return self.network.embed_forms(chars, lengths)

    def _batch_logits(self, batch: list[list[str]]) -> dict[str, Tensor]:
        lengths = torch.tensor([len(forms) for forms in batch], dtype=torch.long)
        width = int(lengths.max())
        words = torch.zeros(len(batch), width, dtype=torch.long)
        form_index = torch.zeros(len(batch), width, dtype=torch.long)
        # the batch's words in one flat list fill the padded tensors row-major: no per-sentence tensors
        mask = torch.arange(width) < lengths[:, None]
        forms = [form for sentence in batch for form in sentence]
        distinct: dict[str, int] = {}
        words[mask] = torch.tensor(self.vocabs.words.indices(forms), dtype=torch.long)
        form_index[mask] = torch.tensor([distinct.setdefault(clip_form(f), len(distinct)) for f in forms], dtype=torch.long)
        form_embeddings = self.cache.lookup(list(distinct), self._embed_forms)
        return self.network(words, lengths, form_index, form_embeddings=form_embeddings)

    def _batches(self, sentences: list[Sentence]) -> Iterator[list[int]]:
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        batch: list[int] = []
        for index in order:
            if batch and len(sentences[index]) * (len(batch) + 1) > self.batch_tokens:
                yield batch
                batch = []
            batch.append(index)
        if batch:
            yield batch

    @torch.inference_mode()
    def predict(self, sentences: list[Sentence], probabilities: bool = False) -> list[Sentence]:
        """Fill the predicted columns of `sentences` in place (other fields untouched) and return them.

        With `probabilities`, each sentence gets `.probabilities[column]`: the probability of each
        predicted tag.
        """
        tagged = [s for s in sentences if len(s)]
        for batch in self._batches(tagged):
            logits = self._batch_logits([tagged[i].forms for i in batch])
            for column in self.columns:
                probs = logits[column].softmax(-1)
                probs[..., :2] = 0  # never predict <pad> or <unk>
                best_prob, best = probs.max(-1)
                if column in self.entity_decoders:
                    lengths = torch.tensor([len(tagged[i]) for i in batch])
                    best = self.entity_decoders[column](logits[column], lengths)
                    best_prob = probs.gather(-1, best.unsqueeze(-1)).squeeze(-1)
                itos = self.vocabs.tags[column].itos
                for row, index in enumerate(batch):
                    sentence = tagged[index]
                    n = len(sentence)
                    sentence.set_column(column, [itos[i] for i in best[row, :n].tolist()])
                    if probabilities:
                        sentence.probabilities[column] = best_prob[row, :n].tolist()
        return sentences
