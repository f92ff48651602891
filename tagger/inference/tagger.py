"""Tagger: load a model file and tag raw text, pre-tokenised sentences or CoNLL-U.

The prediction itself (batching, the CLE cache, decoding) is `tagger.prediction.predictor`, shared
with scoring; this layer adds what a user starts from: text and files, tokenization, and
tagged sentences to read or write.
"""

from __future__ import annotations

import io
import itertools
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch

from tagger.data.conllu_io import Sentence
from tagger.data.vocab import Vocabularies
from tagger.errors import TaggerError
from tagger.inference.documents import TaggedDocument, TaggedSentence
from tagger.inference.readers import INPUT_FORMATS, looks_like_conllu, read_input, read_raw_texts, read_tokenized
from tagger.inference.languages import check_language
from tagger.memory import release_freed_memory
from tagger.model.model_file import ModelBundle, load_model
from tagger.model.network import TaggerNetwork
from tagger.prediction.form_cache import FormEmbeddingCache
from tagger.prediction.predictor import Predictor
from tagger.segmentation.learned import LearnedSegmenter
from tagger.segmentation.rules import Tokenizer
from tagger.segmentation.tokens import RawTextTokenizer

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
        batch_tokens: int | None = None,
        cache_size: int = 50_000,
        form_table: bool = True,
        threads: int | None = None,
        language: str | None = None,
        precision: str = "auto",
        tokenizer: str = "auto",
        device: str | torch.device = "auto",
        name: str | None = None,
    ) -> None:
        """`tokenizer` is how raw text becomes sentences and tokens: "learned" (the segmenter the model
        carries, trained on its treebank's raw text), "rules" (the rule tokenizer), or "auto": learned
        where the model has a segmenter. `language` (an ISO 639 code) picks the rules; by default the
        model's training data says, and another than that is a TaggerError. `device` is where the network and the segmenter run: "cpu",
        "cuda", "cuda:N", or "auto" (a GPU where there is one); a device that is not there is a
        TaggerError. `precision` is the forward pass's arithmetic ("auto": bfloat16 where the device
        computes it natively), `batch_tokens` (by default suited to the device), `cache_size` and
        `form_table` the batches and the CLE caches (see `Predictor`). `name` is what the model is called
        where it is shown (`Tagger.load` gives the name or path it loaded; by default the training data's name)."""
        if tokenizer not in TOKENIZERS:
            raise TaggerError(f"unknown tokenizer {tokenizer!r}: use {', '.join(TOKENIZERS)}")
        if tokenizer == "learned" and bundle.segmenter is None:
            raise TaggerError("this model has no learned segmenter (its training data had no raw text): use the rules")
        self.tokenizer_kind = "learned" if tokenizer != "rules" and bundle.segmenter is not None else "rules"
        self.bundle = bundle
        self.name = name or bundle.provenance.get("data")
        trained_for = model_language(bundle.provenance)
        if language is not None:
            check_language(language)
            if trained_for and language != trained_for:  # its tags would be another language's: refused, not warned
                raise TaggerError(f"language {language} given, but the model was trained on {trained_for} text: "
                                  f"tag {language} text with a {language} model (`tagger download {language}` installs one)")
        self.language = language or trained_for
        self._tokenizer: RawTextTokenizer | None = None  # built on first use, once
        self._tokenizer_lock = threading.Lock()
        self.predictor = Predictor(bundle, batch_tokens, cache_size, precision, form_table, device)
        self.device = self.predictor.device
        self.precision = self.predictor.precision  # all that `precision` decides (tagger.prediction.precision)
        self.columns = bundle.columns
        if threads:
            torch.set_num_threads(threads)

    def __repr__(self) -> str:
        return (f"Tagger(model={self.name!r}, language={self.language!r}, columns={self.columns!r}, "
                f"device={str(self.device)!r}, precision={self.precision.name!r}, tokenizer={self.tokenizer_kind!r})")

    @classmethod
    def load(cls, path_or_name: str | Path, **options) -> Tagger:
        """Load a model file, or by name an installed model package or a shipped model ("en_ewt"), or a
        language code's one model ("fr"; `tagger.inference.packages` says how names are found);
        `options` are the constructor's (`device="cuda"`, `precision=`, `tokenizer=`, ...)."""
        from tagger.inference.shipped import resolve_model

        return cls(load_model(resolve_model(path_or_name)), **{"name": str(path_or_name), **options})

    @property
    def network(self) -> TaggerNetwork:
        """The network that predicts: the trained one in float32, its bfloat16 copy otherwise."""
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
        with self._tokenizer_lock:
            if self._tokenizer is None:
                learned = self.tokenizer_kind == "learned"
                self._tokenizer = (LearnedSegmenter(self.bundle.segmenter, self.device) if learned
                                   else Tokenizer(self.language))
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
        self._predict(sentences, probabilities, top_k)
        return TaggedDocument(sentences, self._raw_text(data, input_format))

    def pipe(
        self, texts: Iterable[str], batch_size: int = 256, input_format: str = "auto", probabilities: bool = False,
        top_k: int = 0, batch_chars: int = 100_000,
    ) -> Iterator[TaggedDocument]:
        """Tag many texts: one `TaggedDocument` per text, in order, as a generator.

        Texts are tagged in groups of up to `batch_size` texts and `batch_chars` characters (a
        longer text is a group of its own), segmented together (raw text) and their sentences
        batched together, so many short texts tag about as fast as one long one, and memory is
        bounded by the group, however many texts come.
        """
        if isinstance(texts, (str, bytes)):
            raise TaggerError("pipe() takes many texts (an iterable of strings); for one text use tag(text)")
        _check_input_format(input_format)
        start = 0
        for group in _groups(texts, batch_size, batch_chars):
            documents = self._read_group(group, input_format, start)
            self._predict([sentence for document in documents for sentence in document], probabilities, top_k)
            release_freed_memory()  # the group's batches are freed: their pages go back (tagger/memory.py)
            for text, document in zip(group, documents):
                yield TaggedDocument(document, self._raw_text(text, input_format))
            start += len(group)

    def _read_group(self, texts: list, input_format: str, start: int) -> list[list[TaggedSentence]]:
        """Each text's sentences; the raw texts among them go through the tokenizer in one call. A bad
        text is named by its index in `pipe`'s input (the group's first text is at `start`)."""
        raw: dict[int, str] = {}
        documents: list[list[TaggedSentence]] = []
        for i, text in enumerate(texts):
            try:
                text = _pipe_item(text, input_format)
                if isinstance(text, str) and (input_format == "raw" or not looks_like_conllu(text)):
                    raw[i] = text
                documents.append([] if i in raw else self._read(text, input_format))
            except TaggerError as error:
                raise TaggerError(f"pipe(): the text at index {start + i}: {error}") from None
        for i, document in zip(raw, read_raw_texts(list(raw.values()), self.tokenizer)):
            documents[i] = document
        return documents

    @staticmethod
    def _raw_text(data: str | Sequence[Sequence[str]], input_format: str) -> str | None:
        """The text a document's offsets index, where the input was raw text (a leading BOM kept)."""
        if not isinstance(data, (str, bytes, bytearray)) or input_format not in ("auto", "raw"):
            return None
        text = _text(data)
        return text if input_format == "raw" or not looks_like_conllu(text) else None

    def _read(self, data: str | Sequence[Sequence[str]], input_format: str) -> list[TaggedSentence]:
        _check_input_format(input_format)
        if isinstance(data, (str, bytes, bytearray)):
            stream = io.BytesIO(_utf8(data))
            return list(read_input(stream, "<string>", input_format, lambda: self.tokenizer))
        if not isinstance(data, Iterable):
            raise TaggerError(f"tag() takes a string (or UTF-8 bytes) of text or a list of token lists, got {type(data).__name__}")
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
            self._predict(chunk, probabilities, top_k)
            release_freed_memory()
            yield from chunk

    def _predict(self, sentences: list[TaggedSentence], probabilities: bool, top_k: int) -> list[TaggedSentence]:
        """Tag `sentences` in place; they then read the model's columns."""
        self.predict([s.sentence for s in sentences], probabilities, top_k)
        for sentence in sentences:
            sentence.columns = self.columns
        return sentences

    def predict(self, sentences: list[Sentence], probabilities: bool = False, top_k: int = 0) -> list[Sentence]:
        """Fill the predicted columns of sentence records in place and return them (see `Predictor.predict`)."""
        return self.predictor.predict(sentences, probabilities, top_k)


def _pipe_item(text: object, input_format: str) -> str | bytes | bytearray | list:
    """One of `pipe`'s texts as `_read` takes it, a raw text decoded; a TaggerError for one it cannot be."""
    if isinstance(text, (str, bytes, bytearray)):
        return _text(text) if input_format in ("auto", "raw") else text
    if not isinstance(text, Iterable):
        raise TaggerError(f"{type(text).__name__} is not a string (or UTF-8 bytes) of text or a list of token lists")
    items = list(text)
    if input_format == "auto" and any(isinstance(item, str) for item in items):
        raise TaggerError("a list of strings is not one text: give each text as one string, or its pre-tokenised "
                          "sentences as lists of tokens")
    return items


def _check_input_format(input_format: str) -> None:
    if input_format != "auto" and input_format not in INPUT_FORMATS:
        raise TaggerError(f"unknown input format {input_format!r}: use auto, {', '.join(INPUT_FORMATS)}")


def _groups(texts: Iterable, max_texts: int, max_chars: int) -> Iterator[list]:
    """Consecutive texts, up to `max_texts` and `max_chars` characters a group (a longer text is a group
    of its own). Only strings and bytes count: pre-tokenised documents are bounded by `max_texts` alone."""
    group: list = []
    chars = 0
    for text in texts:
        size = len(text) if isinstance(text, (str, bytes, bytearray)) else 0
        if group and (len(group) == max_texts or chars + size > max_chars):
            yield group
            group, chars = [], 0
        group.append(text)
        chars += size
    if group:
        yield group


def _text(data: str | bytes | bytearray) -> str:
    """A text as a string, checked to be valid Unicode (see `_utf8`)."""
    return _utf8(data).decode("utf-8")


def _utf8(data: str | bytes | bytearray) -> bytes:
    """The UTF-8 bytes of a text; a one-line TaggerError for bytes that are not UTF-8 or a string that
    cannot be (a lone surrogate, as a bad decode with errors="surrogateescape" leaves)."""
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as error:
            raise TaggerError(f"the text has a lone surrogate (U+{ord(data[error.start]):04X}) at index {error.start}: "
                              "not a character; decode its bytes as UTF-8 first") from None
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError as error:
        raise TaggerError(f"the bytes are not UTF-8 (byte 0x{data[error.start]:02x} at index {error.start})") from None
    return bytes(data)
