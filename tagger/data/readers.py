"""Readers for named-entity data: Universal NER (*.iob2), CoNLL-2003-style column files, CoNLL-U.

Every reader produces the same `Sentence` records as the CoNLL-U reader: ten-column rows with
the entity tag in MISC (`NER=B-PER`), so the column to tag is `misc:NER` whatever the format,
and vocabularies, batching and CoNLL-U output work unchanged. Entity columns are converted to
IOB2 here (see `tagger.data.iob`), once, so the rest of the code sees one scheme.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from tagger.data.conllu_io import COLUMN_INDEX, MISC_PREFIX, Sentence, _decoded_lines, misc_set, parse_conllu
from tagger.data.iob import SCHEMES, detect_scheme, looks_like_entity_tags, to_iob2
from tagger.errors import DataFormatError, TaggerError

log = logging.getLogger(__name__)

FORMATS = ("conllu", "uner", "columns")
NER_COLUMN = "misc:NER"
UNER_FIELDS = ("id", "form", "ner", "aux", "annotator")
DOCSTART = "-DOCSTART-"
_SKIP = ("_", "-")
_EXTENSIONS = {".iob2": "uner", ".conll": "columns", ".bio": "columns", ".txt": "columns", ".tsv": "columns"}
_TOKEN_ID = re.compile(r"\d+(?:-\d+|\.\d+)?")


def guess_format(path: str | Path) -> str:
    """The format of a data file: CoNLL-U or UNER when its first token line says so (ten or five
    tab-separated fields led by a CoNLL-U ID), whatever the file is called; otherwise its
    extension: .iob2 is UNER, .conll/.bio/.txt/.tsv columns, anything else CoNLL-U (so a broken
    CoNLL-U file gets CoNLL-U's error messages)."""
    by_extension = _EXTENSIONS.get(Path(str(path)).suffix.lower(), "conllu")
    if str(path) == "-" or not Path(str(path)).is_file():
        return by_extension
    with open(path, "rb") as stream:
        for raw in itertools.islice(stream, 1000):
            line = raw.decode("utf-8", errors="replace").strip("\r\n\ufeff")
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if _TOKEN_ID.fullmatch(fields[0]) and len(fields) in (10, len(UNER_FIELDS)):
                return "conllu" if len(fields) == 10 else "uner"
            break
    return by_extension


def field_target(name: str) -> str | None:
    """Where a named field of a column file goes: a CoNLL-U column, `misc:NAME` (upper-cased), or nowhere."""
    if name in _SKIP:
        return None
    if name in COLUMN_INDEX and name not in ("id", "misc"):
        return name
    return MISC_PREFIX + name.upper()


def _row(token_id: str, form: str, values: dict[str, str]) -> list[str]:
    """A ten-column CoNLL-U row with `values` placed by `field_target`, every other field `_`."""
    row = [token_id, form] + ["_"] * 8
    for target, value in values.items():
        if target.startswith(MISC_PREFIX):
            row[9] = misc_set(row[9], target[len(MISC_PREFIX):], value)
        else:
            row[COLUMN_INDEX[target]] = value
    return row


def parse_uner(stream: BinaryIO, source: str) -> Iterator[Sentence]:
    """UNER files are CoNLL-U-like with five columns; the NER tag (column 3) goes to MISC."""
    ner = UNER_FIELDS.index("ner")
    for sentence in parse_conllu(stream, source, n_columns=len(UNER_FIELDS)):
        sentence.rows = [_row(row[0], row[1], {NER_COLUMN: row[ner]}) for row in sentence.rows]
        yield sentence


def parse_columns(stream: BinaryIO, source: str, fields: Sequence[str]) -> Iterator[Sentence]:
    """Column files: one token per line, fields split at TABs (or at spaces when a line has no TAB).

    A blank or whitespace-only line ends a sentence; `-DOCSTART-` lines are document markers
    and end one too. There are no comment lines: `#` is a token in tweets.
    """
    targets = [field_target(name) for name in fields]
    form = list(fields).index("form")
    sentence: Sentence | None = None
    for number, text in _decoded_lines(stream, source):
        values = text.split("\t") if "\t" in text else text.split()
        if not text.strip() or values[0] == DOCSTART:
            if sentence is not None:
                yield sentence
                sentence = None
            continue
        if len(values) != len(fields):
            raise DataFormatError(
                source, number, f"expected {len(fields)} columns ({' '.join(fields)}), found {len(values)} "
                "(read as a column file; --format or data.format names another format, --fields or data.fields the columns)"
            )
        if not values[form]:
            raise DataFormatError(source, number, "empty form")
        if sentence is None:
            sentence = Sentence(line=number)
        tags = {target: value for target, value in zip(targets, values) if target and target != "form"}
        sentence.word_rows.append(len(sentence.rows))
        sentence.rows.append(_row(str(len(sentence.rows) + 1), values[form], tags))
    if sentence is not None:
        yield sentence


def check_fields(fields: Sequence[str]) -> None:
    if "form" not in fields:
        raise TaggerError(f"data.fields {list(fields)} must name the 'form' column")
    targets = [field_target(name) for name in fields if field_target(name)]
    if len(set(targets)) != len(targets):
        raise TaggerError(f"data.fields {list(fields)} names a column twice")


def _token_line(sentence: Sentence, word: int) -> int | None:
    """Line of a word in its file: every format keeps a sentence's comments and rows on consecutive lines."""
    if sentence.line is None:
        return None
    return sentence.line + len(sentence.comments) + sentence.word_rows[word]


def normalise_entity_column(sentences: Sequence[Sentence], column: str, scheme: str, source: str) -> int:
    """Rewrite `column` in IOB2 in place; return how many invalid tags were read as entity starts."""
    if scheme not in SCHEMES:
        raise TaggerError(f"data.scheme={scheme!r}: use one of {', '.join(SCHEMES)}")
    sequences = [sentence.column(column) for sentence in sentences]
    for sentence, tags in zip(sentences, sequences):
        for word, tag in enumerate(tags):
            if tag != "O" and not looks_like_entity_tags([tag]):
                raise DataFormatError(source, _token_line(sentence, word), f"bad entity tag {tag!r} in {column}: "
                                      "expected O or B-, I-, E-, S- followed by a type")
    if scheme == "auto":
        scheme = detect_scheme(sequences)
        log.debug("%s: %s reads as %s", source, column, scheme.upper())
    repairs = 0
    for sentence, tags in zip(sentences, sequences):
        try:
            converted, repaired = to_iob2(tags, scheme)
        except ValueError as error:
            raise DataFormatError(source, sentence.line, str(error)) from None
        repairs += repaired
        sentence.set_column(column, converted)
    if repairs:
        log.warning("%s: %d invalid %s tag(s) (I-X continuing no X entity) read as entity starts, as seqeval does",
                    source, repairs, scheme.upper())
    return repairs


def is_annotated(column: str, sentences: Sequence[Sentence]) -> bool:
    """Whether a file has values for `column`: a format without it (UPOS in a UNER file) or a column left `_`
    throughout (XPOS in tr_atis) has none to score against."""
    return any(value != "_" for sentence in sentences for value in sentence.column(column))


def is_entity_column(column: str, sentences: Sequence[Sentence]) -> bool:
    """`misc:NER` always is; another column is when all its values look like entity tags."""
    if column.lower() == NER_COLUMN.lower():
        return True
    return looks_like_entity_tags(tag for sentence in sentences for tag in sentence.column(column))


@contextlib.contextmanager
def _open(path: str | Path) -> Iterator[tuple[BinaryIO, str]]:
    source = str(path)
    if source == "-":
        yield sys.stdin.buffer, "<stdin>"
        return
    if not Path(source).is_file():
        raise DataFormatError(source, None, "no such file")
    with open(source, "rb") as stream:
        yield stream, source


def read_data(
    path: str | Path,
    format: str = "conllu",
    fields: Sequence[str] | None = None,
    scheme: str = "auto",
    columns: Sequence[str] = (),
) -> list[Sentence]:
    """Read a file in `format` and convert the entity columns among `columns` to IOB2.

    `fields` names the columns of a `columns` file (default `form ner`, as in WNUT-17; CoNLL-2003
    is `form xpos chunk ner`); `_` skips a column.
    """
    if format not in FORMATS:
        raise TaggerError(f"data.format={format!r}: use one of {', '.join(FORMATS)}")
    fields = list(fields or ("form", "ner"))
    if format == "columns":
        check_fields(fields)
    with _open(path) as (stream, source):
        if format == "uner":
            sentences = list(parse_uner(stream, source))
        elif format == "columns":
            sentences = list(parse_columns(stream, source, fields))
        else:
            sentences = list(parse_conllu(stream, source))
    if not sentences:
        raise DataFormatError(source, None, "no sentences found (the file is empty or holds only blank lines)")
    for column in columns:
        try:  # a column left `_` throughout has no tags to convert (evaluation calls it not annotated)
            entity = is_annotated(column, sentences) and is_entity_column(column, sentences)
        except ValueError as error:
            raise TaggerError(f"data.columns: {error}") from None
        if entity:
            normalise_entity_column(sentences, column, scheme, source)
    return sentences
