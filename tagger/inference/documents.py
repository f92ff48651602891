"""What `Tagger.tag` reads and returns: sentences of tagged tokens, and their CoNLL-U, JSON and TSV forms.

A `TaggedSentence` wraps the lossless `Sentence` record (so CoNLL-U input comes back with only
the predicted columns changed) plus, for raw text, each word's character offsets. Token objects
are built only when asked for: streaming to CoNLL-U never creates them.
"""

from __future__ import annotations

import bisect
import io
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from tagger.data.conllu_io import Sentence, parse_conllu
from tagger.data.readers import is_entity_column
from tagger.segmentation.tokens import RawTextTokenizer, TokenizedSentence, conllu_sentence, split_lines_into_sentences
from tagger.errors import DataFormatError, TaggerError
from tagger.inference.entities import entity_spans

INPUT_FORMATS = ("raw", "lines", "tokenized", "conllu")
BYTE_ORDER_MARK = "\ufeff"
_CONLLU_ID = re.compile(r"\d+(?:-\d+|\.\d+)?")


@dataclass(frozen=True, slots=True)
class MultiwordToken:
    """A surface token that stands for several syntactic words (*can't* = *ca* + *n't*, *du* = *de* + *le*)."""

    id: str  # the CoNLL-U range, e.g. "2-3"
    form: str
    start: int | None = None  # offsets into raw input, when known
    end: int | None = None


@dataclass(slots=True)
class TaggedToken:
    """One syntactic word: its form, predicted columns, offsets into raw input and, on request, probabilities.

    Columns read as attributes or items: `token.upos`, `token["misc:NER"]`. `probabilities` holds,
    per column, the probability the model gives the predicted tag; `top_k`, per column, the k most
    probable tags with theirs (see `Tagger.tag`).
    """

    id: int
    form: str
    tags: dict[str, str]
    start: int | None = None
    end: int | None = None
    probabilities: dict[str, float] | None = None
    top_k: dict[str, list[tuple[str, float]]] | None = None
    multiword: MultiwordToken | None = None  # the surface token this word is part of, if any

    def __getitem__(self, column: str) -> str:
        return self.tags[column]

    def __getattr__(self, name: str) -> str:
        if name != "tags" and name in self.tags:
            return self.tags[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or predicted column {name!r}")

    @property
    def lemma(self) -> str | None:
        """The predicted lemma; None for a model that does not lemmatise."""
        return self.tags.get("lemma")

    @property
    def features(self) -> dict[str, str]:
        """FEATS as a dict (`{"Number": "Plur", "Person": "3"}`); empty for `_` or a model without FEATS."""
        feats = self.tags.get("feats", "_")
        if feats in ("_", ""):
            return {}
        return dict(item.partition("=")[::2] for item in feats.split("|"))

    def to_dict(self) -> dict:
        data: dict = {"id": self.id, "form": self.form}
        if self.start is not None:
            data["start"], data["end"] = self.start, self.end
        data.update(self.tags)
        if self.probabilities is not None:
            data["probabilities"] = self.probabilities
        if self.top_k is not None:
            data["top_k"] = {column: [[tag, p] for tag, p in ranked] for column, ranked in self.top_k.items()}
        return data


@dataclass(slots=True)
class TaggedSentence:
    """A sentence record, which columns the tagger fills, and (for raw text) each word's offsets.

    Iterating gives its words (`for token in sentence`); `tokens` is built once, on first use.
    """

    sentence: Sentence
    columns: Sequence[str] = ()
    spans: list[tuple[int, int]] | None = None  # per word, [start, end) into the raw input
    multiword_spans: dict[int, tuple[int, int]] = field(default_factory=dict)  # per range row
    _tokens: list[TaggedToken] | None = field(default=None, repr=False)

    @property
    def text(self) -> str | None:
        for comment in self.sentence.comments:
            if comment.startswith("# text = "):
                return comment[len("# text = "):]
        return None

    @property
    def tokens(self) -> list[TaggedToken]:
        if self._tokens is None:
            self._tokens = self._build_tokens()
        return self._tokens

    def __iter__(self) -> Iterator[TaggedToken]:
        return iter(self.tokens)

    def _build_tokens(self) -> list[TaggedToken]:
        sentence = self.sentence
        values = {column: sentence.column(column) for column in self.columns}
        probabilities, top_k = sentence.probabilities, sentence.top_k
        multiword = {word: token for token in self.multiword_tokens for word in _range(token.id)}
        tokens = []
        for i, form in enumerate(sentence.forms):
            start, end = self.spans[i] if self.spans else (None, None)
            tokens.append(TaggedToken(
                i + 1, form, {c: v[i] for c, v in values.items()}, start, end,
                {c: probabilities[c][i] for c in probabilities} if probabilities else None,
                {c: top_k[c][i] for c in top_k} if top_k else None,
                multiword.get(i + 1),
            ))
        return tokens

    @property
    def multiword_tokens(self) -> list[MultiwordToken]:
        """The sentence's multiword tokens (CoNLL-U range lines), with offsets for raw text."""
        found = []
        for row in self.sentence.rows:
            if "-" in row[0]:
                start, end = self.multiword_spans.get(int(row[0].partition("-")[0]), (None, None))
                found.append(MultiwordToken(row[0], row[1], start, end))
        return found

    @property
    def entities(self) -> list[dict]:
        """The entity spans of the NER column(s): `text`, `type`, `token_start`/`token_end` (0-based,
        end exclusive) and, for raw text, character `start`/`end`; a `column` key when the model tags
        several entity columns. Empty for a model without one."""
        entity_columns = self._entity_columns()
        return [
            {**entity, "column": column} if len(entity_columns) > 1 else entity
            for column in entity_columns
            for entity in entity_spans(self.sentence.column(column), self.sentence.forms, self.spans)
        ]

    def _entity_columns(self) -> list[str]:
        return [c for c in self.columns if is_entity_column(c, [self.sentence])]

    def __len__(self) -> int:
        return len(self.sentence)

    def to_conllu(self) -> str:
        return self.sentence.to_conllu() if self.sentence.rows else ""

    def to_dict(self) -> dict:
        data: dict = {"text": self.text} if self.text is not None else {}
        data["tokens"] = [token.to_dict() for token in self.tokens]
        if self._entity_columns():  # a NER model lists its spans, even when there are none
            data["entities"] = self.entities
        multiword = [
            {"id": token.id, "form": token.form, **({"start": token.start, "end": token.end} if token.start is not None else {})}
            for token in self.multiword_tokens
        ]
        if multiword:
            data["multiword_tokens"] = multiword
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def to_tsv(self) -> str:
        """FORM then each predicted column, its probability and top-k tags (`NOUN:0.9120 PROPN:0.0610`) when computed."""
        sentence = self.sentence
        columns = [sentence.forms] + [sentence.column(c) for c in self.columns]
        columns += [[f"{p:.4f}" for p in sentence.probabilities[c]] for c in self.columns if c in sentence.probabilities]
        columns += [[" ".join(f"{tag}:{p:.4f}" for tag, p in ranked) for ranked in sentence.top_k[c]]
                    for c in self.columns if c in sentence.top_k]
        return "".join("\t".join(fields) + "\n" for fields in zip(*columns)) + "\n"


class TaggedDocument(Sequence[TaggedSentence]):
    """The result of `Tagger.tag`: a sequence of tagged sentences, writable as CoNLL-U or JSON."""

    def __init__(self, sentences: list[TaggedSentence]) -> None:
        self.sentences = sentences

    def __getitem__(self, index):
        return self.sentences[index]

    def __len__(self) -> int:
        return len(self.sentences)

    def __repr__(self) -> str:
        return f"TaggedDocument({len(self.sentences)} sentences, {sum(map(len, self.sentences))} words)"

    def to_conllu(self) -> str:
        return "".join(sentence.to_conllu() for sentence in self.sentences)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps({"sentences": [s.to_dict() for s in self.sentences]}, ensure_ascii=False, indent=indent)


def _range(token_id: str) -> range:
    first, _, last = token_id.partition("-")
    return range(int(first), int(last) + 1)


# -- readers: input -> untagged TaggedSentences ---------------------------------------------------


def from_tokenized(tokenized: TokenizedSentence, sent_id: int | None = None, shift: int = 0) -> TaggedSentence:
    """An untagged sentence for tokenizer output, each word with its offsets (less `shift`)."""
    sentence, spans, multiword_spans = conllu_sentence(tokenized, sent_id)
    if shift:
        spans = [(start - shift, end - shift) for start, end in spans]
        multiword_spans = {word: (start - shift, end - shift) for word, (start, end) in multiword_spans.items()}
    return TaggedSentence(sentence, spans=spans, multiword_spans=multiword_spans)


def read_raw_texts(texts: Sequence[str], tokenizer: RawTextTokenizer) -> list[list[TaggedSentence]]:
    """The sentences of each text, numbered from 1 and with offsets into that text, from one
    tokenizer call over all of them: a learned segmenter pays its per-call cost once per group.

    The texts are joined by a blank line, which ends a sentence and a paragraph in every tokenizer,
    so each text splits as it would alone.
    """
    starts = list(itertools.accumulate((len(text) + len(_TEXT_SEPARATOR) for text in texts[:-1]), initial=0))
    joined = _TEXT_SEPARATOR.join(_as_raw_text(text) for text in texts)
    documents: list[list[TaggedSentence]] = [[] for _ in texts]
    for tokenized in tokenizer.tokenize(joined):
        index = bisect.bisect_right(starts, tokenized.start) - 1
        documents[index].append(from_tokenized(tokenized, len(documents[index]) + 1, starts[index]))
    return documents


_TEXT_SEPARATOR = "\n\n"


def _as_raw_text(text: str) -> str:
    """A text as `text_lines` reads it: a leading byte-order mark as a space."""
    return " " + text[1:] if text.startswith(BYTE_ORDER_MARK) else text


def read_raw(lines: Iterable[str], tokenizer: RawTextTokenizer) -> Iterator[TaggedSentence]:
    """Sentences of raw text given as lines (with their line ends), numbered from 1."""
    for number, tokenized in enumerate(split_lines_into_sentences(lines, tokenizer), start=1):
        yield from_tokenized(tokenized, number)


def read_lines(lines: Iterable[str], tokenizer: RawTextTokenizer) -> Iterator[TaggedSentence]:
    """One sentence per line of raw text, never split or joined (blank lines skipped); tokens keep exact offsets."""
    offset = 0
    number = 0
    for line in lines:
        tokens = [token for sentence in tokenizer.tokenize(line, offset) for token in sentence.tokens]
        if tokens:
            number += 1
            text = line[tokens[0].start - offset : tokens[-1].end - offset]
            yield from_tokenized(TokenizedSentence(tokens, text), number)
        offset += len(line)


def read_tokenized(lines: Iterable[str] | Iterable[Sequence[str]]) -> Iterator[TaggedSentence]:
    """Pre-tokenised sentences: token lists, or lines of whitespace-separated tokens (blank lines skipped)."""
    for item in lines:
        if isinstance(item, str):
            if not item.strip():
                continue
            item = item.split()
        elif not _plain_forms(item):
            raise TaggerError(f"pre-tokenised input must be lists of non-empty strings without tabs or newlines, got {item!r}")
        yield TaggedSentence(Sentence.from_forms(item))


def _plain_forms(forms: Sequence[str]) -> bool:
    """Non-empty strings without tabs or newlines (checked at C speed: this runs for every input sentence)."""
    try:
        joined = "".join(forms)
    except TypeError:
        return False
    return all(forms) and "\t" not in joined and "\n" not in joined


def text_lines(stream: Iterable[bytes], source: str) -> Iterator[str]:
    """Lines of a UTF-8 byte stream, line ends kept; bad bytes name the line.

    Offsets index the decoded text with a leading byte-order mark counted as its first character
    (as Python decodes "utf-8" and as a caller's string holds it): the mark is read as a space, so
    it is in no token and shifts no offset.
    """
    for number, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataFormatError(source, number, f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at column {error.start + 1})") from None
        yield _as_raw_text(line) if number == 1 else line


def read_conllu_stream(stream: Iterable[bytes], source: str) -> Iterator[TaggedSentence]:
    for sentence in parse_conllu(stream, source):
        yield TaggedSentence(sentence)


def read_input(
    stream: Iterable[bytes], source: str, input_format: str | None, tokenizer: Callable[[], RawTextTokenizer]
) -> Iterator[TaggedSentence]:
    """Untagged sentences of a byte stream in `input_format` (raw, lines, tokenized or conllu).

    Without a format (None or "auto") the content decides: CoNLL-U when the first line that is
    neither blank nor a comment is a CoNLL-U token line, raw text otherwise. `tokenizer` is
    called only for raw text. The one reader behind `Tagger.tag` and `tagger tag`.
    """
    lines: Iterator[bytes] = iter(stream)
    if input_format in (None, "auto"):
        head: list[bytes] = []
        for raw in lines:
            head.append(raw)
            text = raw.decode("utf-8", errors="replace").lstrip(BYTE_ORDER_MARK).strip()
            if text and not text.startswith("#"):
                break
        input_format = "conllu" if looks_like_conllu(b"".join(head).decode("utf-8", errors="replace")) else "raw"
        lines = itertools.chain(head, lines)
    if input_format == "conllu":
        return read_conllu_stream(lines, source)
    if input_format == "tokenized":
        return read_tokenized(text_lines(lines, source))
    if input_format == "raw":
        return read_raw(text_lines(lines, source), tokenizer())
    if input_format == "lines":
        return read_lines(text_lines(lines, source), tokenizer())
    raise TaggerError(f"unknown input format {input_format!r}: use auto, {', '.join(INPUT_FORMATS)}")


def looks_like_conllu(text: str) -> bool:
    """True when the first line that is neither blank nor a comment is a 10-column CoNLL-U token line."""
    for line in io.StringIO(text.lstrip(BYTE_ORDER_MARK)):  # lazily: a long text is not split whole
        if line.strip() and not line.startswith("#"):
            fields = line.rstrip("\r\n").split("\t")
            return len(fields) == 10 and _CONLLU_ID.fullmatch(fields[0]) is not None
    return False


OUTPUT_FORMATS = {
    "conllu": TaggedSentence.to_conllu,
    "tsv": TaggedSentence.to_tsv,
    "json": lambda sentence: sentence.to_json() + "\n",  # JSON Lines: one sentence a line, streamable
}
