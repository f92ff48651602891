"""Raw text of a gold CoNLL-U file: paragraphs, and every token and sentence found in the text."""

from __future__ import annotations

import pytest

from conftest import SAMPLE_DEV
from tagger.data.conllu_io import parse_conllu_text, read_conllu
from tagger.data.raw_text import (
    NO_BOUNDARY,
    SENTENCE_END,
    TOKEN_END,
    has_raw_text,
    paragraphs,
    raw_text,
    reconstructed_text,
)
from tagger.errors import DataFormatError


NO_SPACE = "SpaceAfter=No"


def row(token_id: str, form: str, misc: str = "_") -> str:
    return "\t".join([token_id, form, "_", "_", "_", "_", "_", "_", "_", misc])


def block(comments: list[str], *rows: str) -> str:
    return "\n".join([*comments, *rows]) + "\n\n"


FRENCH = (
    block(["# newdoc id = d1", "# text = Du pain."], row("1-2", "Du"), row("1", "De"), row("2", "le"),
          row("3", "pain", NO_SPACE), row("4", "."))
    + block(["# text = Il  mange."], row("1", "Il"), row("2", "mange", NO_SPACE), row("3", "."))
    + block(["# newpar", "# text = 20 000 euros"], row("1", "20 000"), row("2", "euros"))
)


def test_sentences_join_by_a_space_and_paragraphs_by_a_blank_line():
    assert raw_text(parse_conllu_text(FRENCH)) == "Du pain. Il  mange.\n\n20 000 euros"


def test_tokens_are_located_in_the_text_with_their_words():
    first, second = paragraphs(parse_conllu_text(FRENCH))
    assert [(t.form, t.start, t.end) for t in first.tokens] == [
        ("Du", 0, 2), ("pain", 3, 7), (".", 7, 8), ("Il", 9, 11), ("mange", 13, 18), (".", 18, 19),
    ]
    assert [t.words for t in first.multiword_tokens] == [("De", "le")]
    assert first.sentences == [(0, 8), (9, 19)] and first.sentence_ends == [8, 19]
    assert [(t.form, t.start, t.end) for t in second.tokens] == [("20 000", 0, 6), ("euros", 7, 12)]
    assert second.line == FRENCH.splitlines().index("# newpar") + 1


def test_boundary_labels_mark_the_last_character_of_tokens_and_sentences():
    text = block(
        ["# text = Hi, you."], row("1", "Hi", NO_SPACE), row("2", ","), row("3", "you", NO_SPACE), row("4", ".")
    )
    (paragraph,) = paragraphs(parse_conllu_text(text))
    N, T, S = NO_BOUNDARY, TOKEN_END, SENTENCE_END
    assert paragraph.text == "Hi, you."
    assert paragraph.boundary_labels() == [N, T, T, N, N, N, T, S]


def test_text_is_rebuilt_from_space_after_where_the_text_comment_is_missing():
    sentences = parse_conllu_text(
        block([], row("1-2", "Don't", r"SpacesAfter=\u00A0"), row("1", "Do"), row("2", "n't"),
              row("3", "go", NO_SPACE), row("4", "!"))
        + block([], row("1", "Hey", r"SpacesAfter=\n\s"), row("2", "you", r"SpacesAfter=\n\n"))
    )
    assert reconstructed_text(sentences[0]) == "Don't\u00a0go!"
    assert reconstructed_text(sentences[1]) == "Hey\n you"  # what follows the last token is the separator's
    assert raw_text(sentences) == "Don't\u00a0go! Hey\n you"


def test_a_token_missing_from_the_text_names_file_and_line():
    text = block(["# sent_id = 1", "# text = The cat."], row("1", "The"), row("2", "dog", NO_SPACE), row("3", "."))
    with pytest.raises(DataFormatError, match=r"train\.conllu:4: token 'dog' is not where '# text' continues"):
        paragraphs(parse_conllu_text(text), "train.conllu")


def test_text_going_on_after_the_last_token_is_an_error():
    with pytest.raises(DataFormatError, match="goes on after the last token"):
        raw_text(parse_conllu_text(block(["# text = Yes no"], row("1", "Yes"))))


def test_a_treebank_without_text_or_space_after_carries_no_raw_text():
    assert not has_raw_text(parse_conllu_text(block([], row("1", "Hello"), row("2", "."))))
    assert has_raw_text(parse_conllu_text(block([], row("1", "Hello", NO_SPACE), row("2", "."))))
    assert has_raw_text(parse_conllu_text(FRENCH))


def test_every_token_of_the_real_sample_is_found():
    sentences = read_conllu(SAMPLE_DEV)
    found = paragraphs(sentences, str(SAMPLE_DEV))
    assert sum(len(p.sentences) for p in found) == len(sentences)
    assert sum(len(t.words) for p in found for t in p.tokens) == sum(len(s) for s in sentences)
    assert all(p.text[t.start:t.end] == t.form for p in found for t in p.tokens)
    assert len(found) == sum(any(c.startswith(("# newpar", "# newdoc")) for c in s.comments) for s in sentences)
