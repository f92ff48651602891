"""The raw-text tokenizer and sentence splitter: UD-style tokens with exact offsets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLE_DEV
from tagger.data.conllu_io import read_conllu
from tagger.segmentation.tokens import split_lines_into_sentences
from tagger.segmentation.rules import Tokenizer

ENGLISH = Tokenizer("en")
GENERIC = Tokenizer(None)


def surface(text: str, tokenizer: Tokenizer = ENGLISH) -> list[str]:
    return [token.text for sentence in tokenizer.tokenize(text) for token in sentence.tokens]


def words(text: str, tokenizer: Tokenizer = ENGLISH) -> list[str]:
    return [word for sentence in tokenizer.tokenize(text) for token in sentence.tokens for word in token.words]


def test_punctuation_is_split_off_words():
    assert surface('He said: "Stop (now)!"') == ["He", "said", ":", '"', "Stop", "(", "now", ")", "!", '"']


def test_runs_of_punctuation_and_emoticons_stay_together():
    assert surface("Wait... what?! Great :) --- ok") == ["Wait", "...", "what", "?!", "Great", ":)", "---", "ok"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("don't", ["do", "n't"]),
        ("Can't", ["Ca", "n't"]),
        ("it's", ["it", "'s"]),
        ("I'm", ["I", "'m"]),
        ("we're", ["we", "'re"]),
        ("they'll", ["they", "'ll"]),
        ("you've", ["you", "'ve"]),
        ("she'd", ["she", "'d"]),
        ("Bush's", ["Bush", "'s"]),
        ("didn’t", ["did", "n’t"]),
        ("parents'", ["parents", "'"]),
        ("cannot", ["can", "not"]),
        ("gonna", ["gon", "na"]),
        ("Dont", ["Do", "nt"]),
    ],
)
def test_english_clitics_are_words_of_one_surface_token(text, expected):
    assert surface(text) == [text]
    assert words(text) == expected


def test_words_that_merely_start_like_a_fused_form_do_not_split():
    assert words("Shi'ite o'clock important Imperial cannoted") == ["Shi'ite", "o'clock", "important", "Imperial", "cannoted"]


def test_a_quoted_plural_keeps_its_closing_quote_apart():
    assert surface("called them 'Christians' today") == ["called", "them", "'", "Christians", "'", "today"]


@pytest.mark.parametrize(
    "whole",
    [
        "http://example.com/a/b?c=1&d=2",
        "www.example.org",
        "john.smith@example.com",
        "Rice@ENRON",
        "3.14",
        "1,000,000",
        "10:30",
        "09/16/99",
        "713-853-3989",
        "report.xls",
        "alt.animals.cat",
        "#hashtag",
    ],
)
def test_urls_emails_numbers_and_names_stay_whole(whole):
    assert surface(f"See {whole}, please.") == ["See", whole, ",", "please", "."]


def test_trailing_punctuation_is_not_part_of_a_url():
    assert surface("(see http://example.com/page).") == ["(", "see", "http://example.com/page", ")", "."]


def test_number_ranges_and_units_split_like_ewt():
    assert surface("5-10 people at 5pm") == ["5", "-", "10", "people", "at", "5", "pm"]


def test_abbreviations_keep_their_period():
    assert surface("Mr. Smith met Dr. Jones in the U.S. Army, e.g. today.") == [
        "Mr.", "Smith", "met", "Dr.", "Jones", "in", "the", "U.S.", "Army", ",", "e.g.", "today", ".",
    ]


def test_at_the_end_of_the_text_an_abbreviation_gives_its_period_to_the_sentence():
    assert surface("apples, pears etc.") == ["apples", ",", "pears", "etc", "."]
    assert surface("He moved to the U.S.") == ["He", "moved", "to", "the", "U.S", "."]


def test_hyphens_split_compounds_unless_after_a_prefix():
    assert surface("a well-known e-mail about non-stop flights") == [
        "a", "well", "-", "known", "e-mail", "about", "non-stop", "flights",
    ]


def test_sentences_end_at_final_punctuation_before_a_capital():
    sentences = ENGLISH.tokenize('It works. Does it? "Yes!" Mr. Smith said so... and left.')
    assert [s.text for s in sentences] == ["It works.", "Does it?", '"Yes!"', "Mr. Smith said so... and left."]


def test_a_blank_line_ends_a_sentence_and_starts_a_paragraph():
    sentences = ENGLISH.tokenize("First line\nstill first\n\nSecond paragraph")
    assert [s.text for s in sentences] == ["First line\nstill first", "Second paragraph"]
    assert [s.new_paragraph for s in sentences] == [True, True]
    sentences = ENGLISH.tokenize("One. Two.")
    assert [s.new_paragraph for s in sentences] == [True, False]


def test_space_after_says_whether_whitespace_follows():
    tokens = ENGLISH.tokenize("Hi, you (there).")[0].tokens
    assert [(t.text, t.space_after) for t in tokens] == [
        ("Hi", False), (",", True), ("you", True), ("(", False), ("there", False), (")", False), (".", True),
    ]


def test_generic_rules_keep_combining_marks_inside_words():
    assert surface("नमस्ते दुनिया। Tere, maailm!", GENERIC) == ["नमस्ते", "दुनिया", "।", "Tere", ",", "maailm", "!"]
    assert len(GENERIC.tokenize("नमस्ते दुनिया। फिर मिलेंगे।")) == 2


def test_generic_rules_do_not_split_clitics_or_hyphens():
    assert words("Ankara'da 6'dan hõbe-kuld", GENERIC) == ["Ankara'da", "6'dan", "hõbe-kuld"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list("aZ9 .,'’-!?()\"@:/\n\t") + ["n't", "'s", "Mr.", "e-", "http://x.y", "\u0301", "ß", "日本"])).map("".join))
def test_tokens_cover_every_visible_character_exactly_once_with_true_offsets(text):
    for tokenizer in (ENGLISH, GENERIC):
        position = 0
        for sentence in tokenizer.tokenize(text):
            assert sentence.text == text[sentence.start : sentence.end]
            for token in sentence.tokens:
                assert text[token.start : token.end] == token.text
                assert "".join(token.words) == token.text
                assert not text[position : token.start].strip()  # only whitespace was skipped
                assert not any(char.isspace() for char in token.text)
                position = token.end
        assert not text[position:].strip()


def test_streamed_lines_give_the_same_sentences_and_offsets_as_the_whole_text():
    text = "".join(f"Sentence number {i} is here.\nIt goes on, line {i}!\n" + ("\n" if i % 7 == 0 else "") for i in range(60))
    whole = [(s.start, s.end, s.new_paragraph) for s in ENGLISH.tokenize(text)]
    lines = text.splitlines(keepends=True)
    streamed = [(s.start, s.end, s.new_paragraph) for s in split_lines_into_sentences(lines, ENGLISH, max_chars=200)]
    assert streamed == whole


def test_a_never_ending_line_stream_is_tokenised_lazily():
    def endless():
        while True:
            yield "Once more. "

    sentences = split_lines_into_sentences(endless(), ENGLISH, max_chars=1000)
    first = [next(sentences) for _ in range(3)]
    assert [s.text for s in first] == ["Once more."] * 3
    assert first[2].start == 22


def test_tokens_match_the_gold_tokens_of_the_english_sample():
    """Token F1 against UD English-EWT (100 dev sentences); the full test set is scripts/tokenizer_f1.py."""
    gold, predicted = set(), set()
    for index, sentence in enumerate(read_conllu(SAMPLE_DEV)):
        text = next(c[len("# text = "):] for c in sentence.comments if c.startswith("# text = "))
        position, covered_until = 0, 0
        for row in sentence.rows:
            first, dash, last = row[0].partition("-")
            if dash or ("." not in row[0] and int(row[0]) > covered_until):
                start = text.index(row[1], position)
                gold.add((index, start, start + len(row[1])))
                position = start + len(row[1])
                covered_until = int(last) if dash else covered_until
        predicted.update((index, t.start, t.end) for s in ENGLISH.tokenize(text) for t in s.tokens)
    correct = len(gold & predicted)
    f1 = 2 * correct / (len(gold) + len(predicted))
    assert f1 >= 0.98
