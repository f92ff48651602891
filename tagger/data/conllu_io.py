"""Lossless CoNLL-U reading and writing.

Sentences keep every line they were read from (comments, multiword-token ranges, empty
nodes, untouched columns), so writing predictions back changes only the predicted columns.
Parsing of the ID field is delegated to the `conllu` package; what this module adds is
validation that names the file and line of the first problem.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from conllu.exceptions import ParseException
from conllu.parser import parse_id_value

from tagger.errors import DataFormatError

COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")
COLUMN_INDEX = {name: i for i, name in enumerate(COLUMNS)}
MISC_PREFIX = "misc:"


@dataclass
class Sentence:
    """One sentence: its comment lines, every token line split into fields, and which rows are words."""

    comments: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    word_rows: list[int] = field(default_factory=list)
    line: int | None = None  # line number of the sentence's first line in its source
    probabilities: dict[str, list[float]] = field(default_factory=dict)  # per column, filled by a tagger
    top_k: dict[str, list[list[tuple[str, float]]]] = field(default_factory=dict)  # per column and word, on request

    @classmethod
    def from_forms(cls, forms: Iterable[str]) -> Sentence:
        """A sentence of plain words with every other column empty (`_`)."""
        rows = [[str(i), form, "_", "_", "_", "_", "_", "_", "_", "_"] for i, form in enumerate(forms, start=1)]
        return cls(rows=rows, word_rows=list(range(len(rows))))

    @property
    def forms(self) -> list[str]:
        return [self.rows[i][1] for i in self.word_rows]

    def __len__(self) -> int:
        return len(self.word_rows)

    def column(self, name: str) -> list[str]:
        """Values of a column (`upos`, `xpos`, `feats`, ... or `misc:KEY`) for every word."""
        if name.startswith(MISC_PREFIX):
            key = name[len(MISC_PREFIX):]
            return [misc_get(self.rows[i][9], key) for i in self.word_rows]
        index = column_index(name)
        return [self.rows[i][index] for i in self.word_rows]

    def set_column(self, name: str, values: list[str]) -> None:
        """Overwrite a column for every word, leaving all other fields as they were."""
        if len(values) != len(self.word_rows):
            raise ValueError(f"{len(values)} values for {len(self.word_rows)} words")
        if name.startswith(MISC_PREFIX):
            key = name[len(MISC_PREFIX):]
            for i, value in zip(self.word_rows, values):
                self.rows[i][9] = misc_set(self.rows[i][9], key, value)
            return
        index = column_index(name)
        for i, value in zip(self.word_rows, values):
            self.rows[i][index] = value

    def to_conllu(self) -> str:
        lines = self.comments + ["\t".join(row) for row in self.rows]
        return "\n".join(lines) + "\n\n"


def column_index(name: str) -> int:
    if name not in COLUMN_INDEX or name in ("id", "form"):
        taggable = ", ".join(c for c in COLUMNS if c not in ("id", "form"))
        raise ValueError(f"unknown tag column {name!r}: use one of {taggable} or misc:KEY")
    return COLUMN_INDEX[name]


def misc_get(misc: str, key: str, default: str = "_") -> str:
    if misc != "_":
        for item in misc.split("|"):
            name, sep, value = item.partition("=")
            if sep and name == key:
                return value
    return default


def misc_set(misc: str, key: str, value: str) -> str:
    """Set KEY=value in a MISC field, keeping the other items and their order."""
    items = [] if misc == "_" else misc.split("|")
    for i, item in enumerate(items):
        if item.partition("=")[0] == key:
            items[i] = f"{key}={value}"
            break
    else:
        items.append(f"{key}={value}")
    return "|".join(items)


def _decoded_lines(stream: Iterable[bytes], source: str) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) with line ends removed, failing on non-UTF-8 bytes with the line."""
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataFormatError(
                source, number, f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at column {error.start + 1})"
            ) from None
        if number == 1 and text.startswith("\ufeff"):
            text = text[1:]  # a byte-order mark is harmless: drop it
        yield number, text.rstrip("\r\n")


class _SentenceBuilder:
    """Validates token lines of one sentence as they arrive."""

    def __init__(self, source: str, line: int) -> None:
        self.source = source
        self.sentence = Sentence(line=line)
        self.last_word = 0
        self.range_end = 0

    def fail(self, line: int, message: str) -> DataFormatError:
        return DataFormatError(self.source, line, message)

    def add_comment(self, line: int, text: str) -> None:
        if self.sentence.rows:
            raise self.fail(line, "comment line inside a sentence (comments must precede the token lines)")
        self.sentence.comments.append(text)

    def add_token(self, line: int, text: str, n_columns: int) -> None:
        fields = text.split("\t")
        if len(fields) != n_columns:
            spaced = len(fields) < n_columns and len(text.split()) >= n_columns  # some columns split by spaces
            hint = " (columns must be separated by tabs, not spaces)" if spaced else ""
            raise self.fail(line, f"expected {n_columns} tab-separated columns, found {len(fields)}{hint}")
        try:
            token_id = parse_id_value(fields[0])
        except ParseException:
            token_id = None
        if token_id is None or not fields[0]:
            raise self.fail(line, f"bad ID {fields[0]!r}: expected an integer, a range like 3-4 or a decimal like 5.1")
        if not fields[1]:
            raise self.fail(line, "empty FORM")
        rows = self.sentence.rows
        if isinstance(token_id, int):
            if token_id != self.last_word + 1:
                raise self.fail(line, f"word ID {token_id} out of order (expected {self.last_word + 1})")
            self.last_word = token_id
            self.sentence.word_rows.append(len(rows))
        elif token_id[1] == "-":
            start, _, end = token_id
            if start != self.last_word + 1 or end <= start:
                raise self.fail(line, f"bad multiword range {fields[0]!r} after word {self.last_word}")
            self.range_end = end
        else:  # empty node i.k comes after word i
            if token_id[0] != self.last_word:
                raise self.fail(line, f"empty node {fields[0]!r} out of place after word {self.last_word}")
        rows.append(fields)

    def finish(self, line: int) -> Sentence:
        if self.range_end > self.last_word:
            raise self.fail(line, f"multiword range ends at {self.range_end}, but the sentence has {self.last_word} words")
        if not self.sentence.word_rows:
            raise self.fail(self.sentence.line or line, "sentence without words (comments only)")
        return self.sentence


def parse_conllu(stream: Iterable[bytes], source: str, n_columns: int = 10) -> Iterator[Sentence]:
    """Yield sentences from a binary stream, validating as it goes."""
    builder: _SentenceBuilder | None = None
    number = 0
    for number, text in _decoded_lines(stream, source):
        if not text.strip():  # blank or whitespace-only: a sentence break
            if builder is not None:
                yield builder.finish(number - 1)
                builder = None
            continue
        if builder is None:
            builder = _SentenceBuilder(source, number)
        if text.startswith("#"):
            builder.add_comment(number, text)
        else:
            builder.add_token(number, text, n_columns)
    if builder is not None:
        yield builder.finish(number)


def read_conllu(path: str | Path, n_columns: int = 10) -> list[Sentence]:
    """Read a whole CoNLL-U file ('-' for stdin); an empty file or one without sentences is an error."""
    source = str(path)
    if source == "-":
        sentences = list(parse_conllu(sys.stdin.buffer, "<stdin>", n_columns))
    else:
        file = Path(path)
        if not file.is_file():
            raise DataFormatError(source, None, "no such file")
        with file.open("rb") as stream:
            sentences = list(parse_conllu(stream, source, n_columns))
    if not sentences:
        raise DataFormatError(source, None, "no sentences found (the file is empty or holds only blank lines)")
    return sentences


def parse_conllu_text(text: str, source: str = "<string>") -> list[Sentence]:
    return list(parse_conllu(io.BytesIO(text.encode("utf-8")), source))


def write_conllu(sentences: Iterable[Sentence], stream: TextIO) -> None:
    for sentence in sentences:
        stream.write(sentence.to_conllu())
