"""Readers: raw text, lines, pre-tokenised sentences or CoNLL-U in, untagged `TaggedSentence`s out.

Raw text is split by a tokenizer (the model's learned segmenter or the rules) and keeps each
word's character offsets; CoNLL-U keeps every byte but what the tagger fills in.
"""

from __future__ import annotations

import bisect
import io
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence

from tagger.data.conllu_io import Sentence, parse_conllu
from tagger.segmentation.tokens import RawTextTokenizer, TokenizedSentence, conllu_sentence, split_lines_into_sentences
from tagger.errors import DataFormatError, TaggerError
from tagger.inference.documents import TaggedSentence

INPUT_FORMATS = ("raw", "lines", "tokenized", "conllu")
BYTE_ORDER_MARK = "\ufeff"
_CONLLU_ID = re.compile(r"\d+(?:-\d+|\.\d+)?")


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

    The texts are joined by a blank line, which ends a sentence and a paragraph in every tokenizer, so
    no sentence crosses from one text into the next, and the rule tokenizer splits each text as it
    would alone. The learned segmenter lays its windows over the joined text, so the context a
    character sees can reach into the neighbouring texts: 7 of en_ewt dev's 201 ten-sentence
    documents split otherwise than alone (`tagger serve` reads each text alone for that reason).
    """
    starts = list(itertools.accumulate((len(text) + len(_TEXT_SEPARATOR) for text in texts[:-1]), initial=0))
    joined = _TEXT_SEPARATOR.join(_as_raw_text(text) for text in texts)
    documents: list[list[TaggedSentence]] = [[] for _ in texts]
    for tokenized in tokenizer.sentences(joined):  # one at a time: never all as tokenizer output as well
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


def detect_input_format(lines: Iterable[bytes], input_format: str | None) -> tuple[str, Iterator[bytes]]:
    """The input's format and its lines, none consumed: `input_format` itself, or, for None or "auto",
    CoNLL-U when the first line that is neither blank nor a comment is a CoNLL-U token line, raw text otherwise."""
    iterator: Iterator[bytes] = iter(lines)
    if input_format not in (None, "auto"):
        return input_format, iterator
    head: list[bytes] = []
    for raw in iterator:
        head.append(raw)
        text = raw.decode("utf-8", errors="replace").lstrip(BYTE_ORDER_MARK).strip()
        if text and not text.startswith("#"):
            break
    detected = "conllu" if looks_like_conllu(b"".join(head).decode("utf-8", errors="replace")) else "raw"
    return detected, itertools.chain(head, iterator)


def read_input(
    stream: Iterable[bytes], source: str, input_format: str | None, tokenizer: Callable[[], RawTextTokenizer]
) -> Iterator[TaggedSentence]:
    """Untagged sentences of a byte stream in `input_format` (raw, lines, tokenized or conllu; None or
    "auto": by its content, see `detect_input_format`). `tokenizer` is called only for raw text. The
    one reader behind `Tagger.tag` and `tagger tag`.
    """
    input_format, lines = detect_input_format(stream, input_format)
    if input_format == "conllu":
        return read_conllu_stream(lines, source)
    if input_format == "tokenized":
        return read_tokenized(text_lines(lines, source))
    if input_format == "raw":
        return read_raw(text_lines(lines, source), tokenizer())
    if input_format == "lines":
        return read_lines(text_lines(lines, source), tokenizer())
    raise TaggerError(f"unknown input format {input_format!r}: use auto, {', '.join(INPUT_FORMATS)}")


def number_sentences(sentences: Iterable[TaggedSentence], ids: Iterator[int], document: str | None) -> Iterator[TaggedSentence]:
    """Give each sentence the next `# sent_id` of `ids` (shared across files, so ids stay unique in one
    output) and the first one `# newdoc id = DOCUMENT` when `document` is given. For raw and tokenized input
    only: CoNLL-U input keeps its own ids and comments."""
    for index, tagged in enumerate(sentences):
        comments = [comment for comment in tagged.sentence.comments if not comment.startswith("# sent_id")]
        comments.insert(1 if comments[:1] == ["# newpar"] else 0, f"# sent_id = {next(ids)}")
        if index == 0 and document is not None:
            comments.insert(0, f"# newdoc id = {document}")
        tagged.sentence.comments = comments
        yield tagged


def looks_like_conllu(text: str) -> bool:
    """True when the first line that is neither blank nor a comment is a 10-column CoNLL-U token line."""
    for line in io.StringIO(text.lstrip(BYTE_ORDER_MARK)):  # lazily: a long text is not split whole
        if line.strip() and not line.startswith("#"):
            fields = line.rstrip("\r\n").split("\t")
            return len(fields) == 10 and _CONLLU_ID.fullmatch(fields[0]) is not None
    return False
