"""The raw text of a gold CoNLL-U file, and where its tokens and sentences lie in it.

Raw text is what a user would have typed before anyone tokenised it. Evaluation from raw text
feeds it to the pipeline and scores the result against the gold file (CoNLL 2018); a learned
segmenter trains on it, labelling each character as a token end, a sentence end or neither.

A sentence's text is its `# text` comment, or, where that is missing, is rebuilt from the surface
tokens and their `SpaceAfter=No` / `SpacesAfter=` (MISC). Sentences of a paragraph are joined by
one space; `# newpar` and `# newdoc` start a new paragraph; paragraphs are separated by a blank
line. Every surface token (a multiword token's range line, otherwise a word) is then found in
that text by scanning forward over whitespace only. A token that is not there is an error naming
file and line: the text and the tokens disagree, and neither learning nor scoring can use the
sentence as it stands.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from tagger.data.conllu_io import Sentence, misc_get
from tagger.errors import DataFormatError

NO_BOUNDARY, TOKEN_END, SENTENCE_END = 0, 1, 2  # per-character segmenter labels
PARAGRAPH_SEPARATOR = "\n\n"
SENTENCE_SEPARATOR = " "

_NEW_PARAGRAPH = re.compile(r"#\s*new(par|doc)\b")
_SPACES_AFTER_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)")
_ESCAPED = {"s": " ", "t": "\t", "n": "\n", "r": "\r", "p": "|", "\\": "\\"}


@dataclass(frozen=True, slots=True)
class SurfaceToken:
    """A token as written: its form, offsets [start, end) into its paragraph and the words it stands for."""

    form: str
    start: int
    end: int
    words: tuple[str, ...]  # one word unless it is a multiword token (du -> de le)

    @property
    def is_multiword(self) -> bool:
        return len(self.words) > 1


@dataclass(slots=True)
class Paragraph:
    """A paragraph's text, its surface tokens and its sentences, all as offsets into the text."""

    text: str
    tokens: list[SurfaceToken] = field(default_factory=list)
    sentences: list[tuple[int, int]] = field(default_factory=list)  # [start, end) of first and last token
    line: int | None = None  # source line of its first sentence

    @property
    def token_ends(self) -> list[int]:
        return [token.end for token in self.tokens]

    @property
    def sentence_ends(self) -> list[int]:
        return [end for _, end in self.sentences]

    @property
    def multiword_tokens(self) -> list[SurfaceToken]:
        return [token for token in self.tokens if token.is_multiword]

    def boundary_labels(self) -> list[int]:
        """Per character: TOKEN_END or SENTENCE_END on the last character of a token or sentence, else NO_BOUNDARY."""
        labels = [NO_BOUNDARY] * len(self.text)
        for token in self.tokens:
            labels[token.end - 1] = TOKEN_END
        for end in self.sentence_ends:
            labels[end - 1] = SENTENCE_END
        return labels


def sentence_text(sentence: Sentence) -> str | None:
    """The `# text` comment's value, or None where the sentence has none."""
    for comment in sentence.comments:
        key, equals, value = comment[1:].partition("=")
        if equals and key.strip() == "text":
            return value.strip()
    return None


def starts_paragraph(sentence: Sentence) -> bool:
    return any(_NEW_PARAGRAPH.match(comment) for comment in sentence.comments)


def surface_tokens(sentence: Sentence) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(row index, form, words) of each surface token: range lines cover their words; empty nodes are skipped."""
    covered_until = 0
    words_of_range: list[str] = []
    for index, row in enumerate(sentence.rows):
        first, dash, last = row[0].partition("-")
        if dash:
            covered_until = int(last)
            range_row, words_of_range = index, []
        elif "." in row[0]:
            continue
        elif int(row[0]) <= covered_until:
            words_of_range.append(row[1])
            if int(row[0]) == covered_until:
                yield range_row, sentence.rows[range_row][1], tuple(words_of_range)
        else:
            yield index, row[1], (row[1],)


def reconstructed_text(sentence: Sentence) -> str:
    """A sentence's text rebuilt from its surface tokens and SpaceAfter=No / SpacesAfter= in MISC."""
    pieces: list[str] = []
    for index, form, _ in surface_tokens(sentence):
        misc = sentence.rows[index][9]
        spaces = misc_get(misc, "SpacesAfter", default="")
        if spaces:
            after = _SPACES_AFTER_ESCAPE.sub(_unescape, spaces)
        else:
            after = "" if misc_get(misc, "SpaceAfter") == "No" else " "
        pieces += [form, after]
    return "".join(pieces[:-1])  # what follows the last token is the sentence separator's business


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if len(code) == 5:
        return chr(int(code[1:], 16))
    return _ESCAPED.get(code, match.group(0))  # an unknown escape stays as written


def has_raw_text(sentences: Sequence[Sentence]) -> bool:
    """Whether the file says how its text was written (`# text` or SpaceAfter/SpacesAfter somewhere).

    Without either, the only text to be had is the tokens joined by spaces, and a segmenter trained
    on that would learn that tokens end exactly at spaces: better to say so and fall back to rules.
    """
    for sentence in sentences:
        if sentence_text(sentence) is not None:
            return True
        for row in sentence.rows:
            if "SpaceAfter=No" in row[9] or "SpacesAfter=" in row[9]:
                return True
    return False


def paragraphs(sentences: Sequence[Sentence], source: str = "<data>") -> list[Paragraph]:
    """The file's paragraphs with every surface token and sentence located in the text.

    `source` names the file in errors. Raises DataFormatError where a token is not in `# text`.
    """
    result: list[Paragraph] = []
    for sentence in sentences:
        if not result or starts_paragraph(sentence):
            result.append(Paragraph(text="", line=sentence.line))
        paragraph = result[-1]
        offset = len(paragraph.text) + len(SENTENCE_SEPARATOR) if paragraph.text else 0
        text = sentence_text(sentence)
        if text is None:
            text = reconstructed_text(sentence)
        tokens = _locate_tokens(sentence, text, offset, source)
        paragraph.text = (paragraph.text + SENTENCE_SEPARATOR if paragraph.text else "") + text
        paragraph.tokens += tokens
        paragraph.sentences.append((tokens[0].start, tokens[-1].end))
    return result


def raw_text(sentences: Sequence[Sentence], source: str = "<data>") -> str:
    """The whole file as raw text: paragraphs separated by a blank line."""
    return PARAGRAPH_SEPARATOR.join(paragraph.text for paragraph in paragraphs(sentences, source))


def _locate_tokens(sentence: Sentence, text: str, offset: int, source: str) -> list[SurfaceToken]:
    """Each surface token's offsets, found in order in `text` with only whitespace between them."""
    tokens: list[SurfaceToken] = []
    position = 0
    for index, form, words in surface_tokens(sentence):
        while position < len(text) and text[position].isspace():
            position += 1
        if not text.startswith(form, position):
            line = None if sentence.line is None else sentence.line + len(sentence.comments) + index
            found = text[position : position + len(form) + 10] or "the end of the text"
            raise DataFormatError(
                source, line, f"token {form!r} is not where '# text' continues (it reads {found!r} there)"
            )
        tokens.append(SurfaceToken(form, offset + position, offset + position + len(form), words))
        position += len(form)
    if text[position:].strip():
        line = None if sentence.line is None else sentence.line + len(sentence.comments)
        raise DataFormatError(source, line, f"'# text' goes on after the last token: {text[position:]!r}")
    return tokens
