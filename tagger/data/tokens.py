"""Tokens with character offsets: what a tokenizer (the rules, or a learned segmenter) makes of raw text.

Any tokenizer here has `tokenize(text, offset, new_paragraph) -> list[TokenizedSentence]`;
`split_lines_into_sentences` streams a long input through one with bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol


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


class RawTextTokenizer(Protocol):
    """Raw text -> sentences of tokens, offsets into `text` plus `offset`."""

    def tokenize(self, text: str, offset: int = 0, new_paragraph: bool = True) -> list[TokenizedSentence]: ...


def split_lines_into_sentences(
    lines: Iterable[str], tokenizer: RawTextTokenizer, max_chars: int = 100_000, batch_chars: int = 10_000
) -> Iterator[TokenizedSentence]:
    """Tokenise a stream of text lines with bounded memory; offsets count characters from the start.

    Paragraphs (blank-line separated) are tokenised whole, several at a time up to about
    `batch_chars` (a tokenizer ends sentences at blank lines itself; one call per paragraph made a
    learned segmenter pay its per-call cost 850 times on en_ewt test). A longer stretch without a
    blank line is tokenised once it passes `max_chars`, keeping its last, possibly unfinished
    sentence for the next round; only a single sentence longer than that is cut.
    """
    buffer: list[str] = []
    size = 0
    offset = 0  # of the buffer's first character
    new_paragraph = True
    for line in lines:
        if not line.strip():
            if buffer and size < batch_chars:  # the paragraph break stays inside the batch
                buffer.append(line)
                size += len(line)
                continue
            if buffer:
                yield from tokenizer.tokenize("".join(buffer), offset, new_paragraph)
                offset += size
                buffer, size, new_paragraph = [], 0, True
            offset += len(line)
            continue
        buffer.append(line)
        size += len(line)
        if size >= max_chars:
            text = "".join(buffer)
            sentences = tokenizer.tokenize(text, offset, new_paragraph)
            keep = sentences.pop() if len(sentences) > 1 else None
            yield from sentences
            new_paragraph = keep.new_paragraph if keep else False
            cut = keep.start - offset if keep else len(text)
            offset += cut
            buffer = [text[cut:]] if keep else []
            size = len(text) - cut
    if buffer:
        yield from tokenizer.tokenize("".join(buffer), offset, new_paragraph)
