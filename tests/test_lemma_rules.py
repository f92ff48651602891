import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.data.conllu_io import read_conllu
from tagger.data.lemma_rules import IDENTITY, apply_rule, derive_rule, lemmatise
from tagger.model.decoding import LemmaDecoder

SAMPLE = Path(__file__).resolve().parent.parent / "tagger" / "samples" / "en_sample_train.conllu"

# Characters that stress casing (no single-character case partner, or a two-character one),
# the separators, and the characters the rule format escapes.
TRICKY = st.text(alphabet="aAbBzZİiIıßẞςσΣǅǆǄK+_|\\=-0 수석은", min_size=1, max_size=12)


def test_capitalised_form_gets_a_lower_case_lemma():
    assert derive_rule("The", "the") == "L0|-0+|-0+"
    assert apply_rule("L0|-0+|-0+", "The") == "the"


def test_all_caps_and_mixed_case_lemmas_keep_the_forms_casing():
    assert derive_rule("USA", "USA") == derive_rule("iPhone", "iPhone") == IDENTITY
    assert apply_rule(IDENTITY, "NATO") == "NATO"


def test_lemma_casing_that_the_form_lacks_is_written_as_runs():
    assert derive_rule("paris", "Paris") == "U0,L1|-0+|-0+"
    assert apply_rule("U0,L1|-0+|-0+", "london") == "London"
    assert apply_rule(derive_rule("mcdonald", "McDonald"), "mcdonald") == "McDonald"


def test_suffix_rule_counts_what_it_strips_and_ignores_the_forms_casing():
    assert derive_rule("running", "run") == derive_rule("Running", "run") == "L0|-0+|-4+"
    assert apply_rule(derive_rule("walked", "walk"), "Jumped") == "jump"


def test_prefix_and_suffix_rule_for_a_german_participle():
    rule = derive_rule("gemacht", "machen")
    assert rule == "L0|-2+|-1+en"
    assert apply_rule(rule, "gesagt") == "sagen"


def test_lemma_sharing_nothing_with_the_form_is_written_whole():
    assert derive_rule("went", "go") == derive_rule("Went", "go") == "L0|=go"
    assert apply_rule("L0|=be", "is") == "be"


def test_rule_that_strips_more_than_the_form_has_does_not_apply():
    assert apply_rule("L0|-0+|-4+", "run") is None
    assert apply_rule("L0|-2+|-1+en", "gem") is None
    assert lemmatise("L0|-0+|-4+", "run") == "run"  # the form stands in for a missing lemma


def test_added_text_with_format_characters_is_escaped():
    rule = derive_rule("a|b", "a|=b\\")
    assert rule == "L0|-0+|-1+=b\\\\"
    assert apply_rule(rule, "a|b") == "a|=b\\"


def test_malformed_rule_is_an_error():
    with pytest.raises(ValueError):
        apply_rule("L0|+3", "word")


def test_korean_morpheme_boundaries_are_inserted_counted_from_the_end():
    rule = derive_rule("수석연구원은", "수석+연구원+은")
    assert rule == "L0|-0+|-0+|+4+1"
    assert apply_rule(rule, "대학연구소는") == "대학+연구소+는"
    assert apply_rule(derive_rule("절반인", "절반+이+ㄴ"), "절반인") == "절반+이+ㄴ"


def test_estonian_compound_boundaries_are_inserted_after_the_ending_is_edited():
    rule = derive_rule("jalgpalliklubile", "jalg_palli_klubi")
    assert rule == "L0|-0+|-2+|_10_5"
    assert apply_rule(rule, "Jalgpalliklubile") == "jalg_palli_klubi"
    assert apply_rule(rule, "klubile") is None  # too short for a boundary 10 characters from the end


def test_separator_the_form_already_has_is_copied_not_inserted():
    assert derive_rule("C++", "C++") == IDENTITY
    assert derive_rule("e_mail", "e_mail") == "L0|-0+|-0+"


def test_without_separators_the_boundaries_are_part_of_the_edit():
    rule = derive_rule("수석연구원은", "수석+연구원+은", separators="")
    assert rule == "L0|-2+수석+|-1++은"
    assert apply_rule(rule, "수석연구원은") == "수석+연구원+은"


def sample_pairs() -> list[tuple[str, str]]:
    return [pair for s in read_conllu(SAMPLE) for pair in zip(s.forms, s.column("lemma"))]


@cache
def sample_rules() -> list[str]:
    """The English sample's rules, with a prefix rule and separator rules added."""
    pairs = sample_pairs() + [("gemacht", "machen"), ("수석연구원은", "수석+연구원+은")]
    return sorted({derive_rule(form, lemma) for form, lemma in pairs if lemma != "_"} | {IDENTITY})


def test_round_trip_on_every_pair_of_the_english_sample():
    pairs = set(sample_pairs())
    assert len(pairs) > 2000
    for form, lemma in pairs:
        assert apply_rule(derive_rule(form, lemma), form) == lemma, (form, lemma)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20), st.sampled_from(["+_", ""]))
def test_round_trip_on_any_strings(form, lemma, separators):
    rule = derive_rule(form, lemma, separators)
    assert apply_rule(rule, form) == lemma
    assert json.loads(json.dumps(rule)) == rule


@settings(max_examples=300, deadline=None)
@given(TRICKY, TRICKY, st.sampled_from(["+_", ""]))
def test_round_trip_on_strings_that_stress_casing_and_escaping(form, lemma, separators):
    assert apply_rule(derive_rule(form, lemma, separators), form) == lemma


def allowed_rows(rules: list[str], forms: list[str]) -> list[list[bool]]:
    """What the lemma decoder lets each form choose, per rule (pad and unk left out)."""
    decoder = LemmaDecoder(["<pad>", "<unk>", *rules])
    return decoder.allowed([forms], len(forms))[0, :, 2:].tolist()


def test_the_decoder_allows_exactly_the_rules_that_give_a_lemma():
    rules = sample_rules()
    forms = ["a", "I", "is", "run", "gem", "Running", "수석연구원은", "internationalisation"]
    for form, row in zip(forms, allowed_rows(rules, forms)):
        assert row == [apply_rule(rule, form) is not None for rule in rules], form


def test_a_rule_stripping_more_than_a_word_has_is_not_allowed():
    assert allowed_rows(["L0|-0+|-2+", "L0|=go", IDENTITY], ["a", "talked"]) == [[False, True, True], [True, True, True]]


@given(st.text(min_size=1, max_size=15))
def test_every_form_has_an_applicable_rule_and_each_gives_a_non_empty_lemma(form):
    rules = sample_rules()
    (row,) = allowed_rows(rules, [form])
    assert row[rules.index(IDENTITY)]
    for rule, allowed in zip(rules, row):
        if allowed:
            assert lemmatise(rule, form)
