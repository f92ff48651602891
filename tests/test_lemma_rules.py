import json
from functools import cache
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.data.conllu_io import read_conllu
from tagger.data.lemma_rules import IDENTITY, LemmaRules, apply_rule, derive_rule, lemmatise

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
def sample_rules() -> LemmaRules:
    """The English sample's rules, with a prefix rule and separator rules added."""
    return LemmaRules.from_pairs(sample_pairs() + [("gemacht", "machen"), ("수석연구원은", "수석+연구원+은")])


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


def test_classes_are_ordered_most_frequent_first_and_rare_ones_fall_back_to_identity():
    pairs = [("walked", "walk")] * 3 + [("went", "go")] + [("dogs", "dog")] * 2
    rules = LemmaRules.from_pairs(pairs, min_count=2)
    assert rules.rules == ["L0|-0+|-2+", "L0|-0+|-1+", IDENTITY]
    assert rules.rule_of("went", "go") == IDENTITY
    assert rules.rule_of("cats", "cat") == "L0|-0+|-1+"


def test_unannotated_lemma_gives_no_rule_and_no_target():
    rules = LemmaRules.from_pairs([("lar", "_"), ("dogs", "dog")])
    assert rules.rules == ["L0|-0+|-1+", IDENTITY]
    assert rules.rule_of("lar", "_") is None


def mask_rows(rules: LemmaRules, forms: list[str]) -> list[list[bool]]:
    mask = rules.mask(forms)
    return [[bool(b) for b in mask[i * len(rules):(i + 1) * len(rules)]] for i in range(len(forms))]


def test_mask_says_exactly_where_apply_rule_gives_a_lemma():
    rules = sample_rules()
    forms = ["a", "I", "is", "run", "gem", "Running", "수석연구원은", "internationalisation"]
    for form, row in zip(forms, mask_rows(rules, forms)):
        assert row == [apply_rule(rule, form) is not None for rule in rules.rules], form


@given(st.text(min_size=1, max_size=15))
def test_every_form_has_an_applicable_rule_and_each_gives_a_non_empty_lemma(form):
    rules = sample_rules()
    (row,) = mask_rows(rules, [form])
    assert row[rules.index[IDENTITY]]
    for rule, allowed in zip(rules.rules, row):
        if allowed:
            assert lemmatise(rule, form)


def test_mask_reads_as_a_torch_bool_tensor_without_a_copy():
    rules = LemmaRules.from_pairs([("walked", "walk"), ("went", "go")])
    forms = ["a", "talked"]
    mask = torch.frombuffer(rules.mask(forms), dtype=torch.bool).view(len(forms), len(rules))
    assert mask.tolist() == mask_rows(rules, forms) == [[False, True, True], [True, True, True]]
