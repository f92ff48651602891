"""Tokens with character offsets: what a tokenizer (the rules, or a learned segmenter) makes of raw text.

Any tokenizer here has `tokenize(text, offset, new_paragraph) -> list[TokenizedSentence]` and
`sentences(...)`, the same one at a time; `split_lines_into_sentences` streams a long input
through one with bounded memory, and `conllu_sentence` turns a tokenized sentence into the
CoNLL-U record that tagging fills and scoring reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from tagger.data.conllu_io import Sentence

BLANK_LINES = re.compile(r"\n[^\S\n]*\n\s*")  # a paragraph break: every tokenizer ends a sentence there
Span = tuple[int, int]


@dataclass(slots=True)
class Token:
    """A surface token: its text, offsets [start, end) into the input and its syntactic words."""

    text: str
    start: int
    end: int
    words: tuple[str, ...]  # slices of `text` that concatenate to it; one word unless multiword
    space_after: bool = True


@dataclass(slots=True)
class TokenizedSentence:
    tokens: list[Token]
    text: str  # the input between the first token's start and the last token's end
    new_paragraph: bool = False

    @property
    def start(self) -> int:
        return self.tokens[0].start

    @property
    def end(self) -> int:
        return self.tokens[-1].end


def conllu_sentence(
    tokenized: TokenizedSentence, sent_id: int | None = None
) -> tuple[Sentence, list[Span], dict[int, Span]]:
    """The CoNLL-U sentence of tokenizer output (multiword ranges, SpaceAfter=No, `# text`), each
    word's span into the input, and each multiword token's span keyed by its first word's id."""
    comments = ["# newpar"] if tokenized.new_paragraph else []
    if sent_id is not None:
        comments.append(f"# sent_id = {sent_id}")
    comments.append("# text = " + " ".join(tokenized.text.split()))
    rows: list[list[str]] = []
    word_rows: list[int] = []
    spans: list[Span] = []
    multiword_spans: dict[int, Span] = {}
    for token in tokenized.tokens:  # the hot loop of raw-text tagging: kept lean
        misc = "_" if token.space_after else "SpaceAfter=No"
        if len(token.words) == 1:
            word_rows.append(len(rows))
            rows.append([str(len(word_rows)), token.text, "_", "_", "_", "_", "_", "_", "_", misc])
            spans.append((token.start, token.end))
            continue
        first = len(word_rows) + 1
        multiword_spans[first] = (token.start, token.end)
        rows.append([f"{first}-{first + len(token.words) - 1}", token.text, "_", "_", "_", "_", "_", "_", "_", misc])
        # words that are pieces of the token (ca + n't) get their piece; others (du = de + le) the token's span
        pieces = "".join(token.words) == token.text
        start = token.start
        for word in token.words:
            word_rows.append(len(rows))
            rows.append([str(len(word_rows)), word, "_", "_", "_", "_", "_", "_", "_", "_"])
            spans.append((start, start + len(word)) if pieces else (token.start, token.end))
            start += len(word)
    return Sentence(comments, rows, word_rows), spans, multiword_spans


class RawTextTokenizer(Protocol):
    """Raw text -> sentences of tokens, offsets into `text` plus `offset`."""

    def tokenize(self, text: str, offset: int = 0, new_paragraph: bool = True) -> list[TokenizedSentence]: ...

    def sentences(
        self, text: str, offset: int = 0, new_paragraph: bool = True, max_sentence_chars: int | None = None
    ) -> Iterator[TokenizedSentence]:
        """`tokenize`'s sentences as they are found; a sentence that reaches `max_sentence_chars` is cut."""
        ...


def split_lines_into_sentences(
    lines: Iterable[str], tokenizer: RawTextTokenizer, max_chars: int = 100_000, batch_chars: int = 10_000
) -> Iterator[TokenizedSentence]:
    """Tokenise a stream of text lines with bounded memory; offsets count characters from the start.

    Paragraphs (blank-line separated) are tokenised whole, several at a time up to about
    `batch_chars` (a tokenizer ends sentences at blank lines itself; one call per paragraph made a
    learned segmenter pay its per-call cost 850 times on en_ewt test). A longer stretch without a
    blank line is tokenised once it passes `max_chars`, its sentences handed on as the tokenizer
    finds them but for the last, possibly unfinished one, kept for the next round; at the end of
    the input none is kept, so one line, however long, is tokenised as one piece. A sentence is
    cut where it reaches `max_chars`, so what is kept is always shorter.
    """
    buffer: list[str] = []
    size = 0
    offset = 0  # of the buffer's first character
    new_paragraph = True
    iterator = iter(lines)
    ahead: list[str] = []  # a line read to learn whether the input goes on
    while (line := ahead.pop() if ahead else next(iterator, None)) is not None:
        if not line.strip():
            if buffer and size < batch_chars:  # the paragraph break stays inside the batch
                buffer.append(line)
                size += len(line)
                continue
            if buffer:
                yield from tokenizer.sentences("".join(buffer), offset, new_paragraph, max_chars)
                offset += size
                buffer, size, new_paragraph = [], 0, True
            offset += len(line)
            continue
        buffer.append(line)
        size += len(line)
        if size < max_chars:
            continue
        text = "".join(buffer)
        sentences = tokenizer.sentences(text, offset, new_paragraph, max_chars)
        ahead = [following] if (following := next(iterator, None)) is not None else []
        if not ahead:  # the end of the input
            yield from sentences
            return
        keep = next(sentences, None)
        for sentence in sentences:
            yield keep
            keep = sentence
        new_paragraph = keep.new_paragraph if keep else False
        cut = keep.start - offset if keep else len(text)
        offset += cut
        buffer = [text[cut:]] if keep else []
        size = len(text) - cut
    if buffer:
        yield from tokenizer.sentences("".join(buffer), offset, new_paragraph, max_chars)
