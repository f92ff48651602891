"""Reading and writing CoNLL-U is lossless: a property over generated sentences.

Sentences carry comments, multiword-token ranges, empty nodes and fields of arbitrary Unicode
(anything but the TAB and line breaks that structure the format, and lone surrogates, which
UTF-8 cannot hold).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.data.conllu_io import Sentence, parse_conllu_text

FIELD_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n\r")
FIELD = st.text(FIELD_CHARS, min_size=1, max_size=12)


@st.composite
def sentences(draw) -> Sentence:
    """A valid sentence: words 1..n, ranges a-b before word a (b <= n), empty nodes i.k after word i."""
    n = draw(st.integers(1, 8))
    comments = ["#" + text for text in draw(st.lists(st.text(FIELD_CHARS | st.just("\t"), max_size=20), max_size=3))]
    rows: list[list[str]] = []
    word_rows: list[int] = []

    def row(token_id: str) -> list[str]:
        return [token_id, *draw(st.lists(FIELD, min_size=9, max_size=9))]

    for k in range(1, draw(st.integers(0, 2)) + 1):  # empty nodes before the first word are 0.k
        rows.append(row(f"0.{k}"))
    range_end = 0
    for word in range(1, n + 1):
        if word > range_end and word < n and draw(st.booleans()):
            range_end = draw(st.integers(word + 1, n))
            rows.append(row(f"{word}-{range_end}"))
        word_rows.append(len(rows))
        rows.append(row(str(word)))
        for k in range(1, draw(st.integers(0, 2)) + 1):
            rows.append(row(f"{word}.{k}"))
    return Sentence(comments=comments, rows=rows, word_rows=word_rows)


def written(document: list[Sentence]) -> str:
    return "".join(sentence.to_conllu() for sentence in document)


@settings(max_examples=200, deadline=None)
@given(st.lists(sentences(), min_size=1, max_size=4))
def test_reading_what_was_written_gives_the_same_sentences(document):
    read = parse_conllu_text(written(document))
    assert [(s.comments, s.rows, s.word_rows) for s in read] == [(s.comments, s.rows, s.word_rows) for s in document]


@settings(max_examples=200, deadline=None)
@given(st.lists(sentences(), min_size=1, max_size=4))
def test_writing_what_was_read_gives_the_same_text_whatever_the_line_ends(document):
    text = written(document)
    assert written(parse_conllu_text(text)) == text
    assert written(parse_conllu_text("\ufeff" + text.replace("\n", "\r\n"))) == text  # BOM and CRLF are read away


@settings(max_examples=100, deadline=None)
@given(sentences(), st.data())
def test_setting_a_predicted_column_changes_that_field_of_the_words_only(sentence, data):
    text = sentence.to_conllu()
    predicted = data.draw(st.lists(FIELD, min_size=len(sentence), max_size=len(sentence)))
    (copy,) = parse_conllu_text(text)
    copy.set_column("upos", predicted)
    before, after = text.split("\n"), copy.to_conllu().split("\n")  # not splitlines: \x1e, \u2028 are field text
    changed = [(b.split("\t"), a.split("\t")) for b, a in zip(before, after) if b != a]
    assert len(before) == len(after)
    assert all(b[:3] + b[4:] == a[:3] + a[4:] for b, a in changed)
    assert copy.column("upos") == predicted
