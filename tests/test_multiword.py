"""Multiword-token rules: split rules cut suffixes off any token, the lexicon expands non-slices with casing."""

from __future__ import annotations

from tagger.segmentation.multiword import LEXICON, NOT_MULTIWORD, MultiwordExpander, restore_case, split_rule

TRAIN_TOKENS = [
    ("don't", ("do", "n't")), ("didn't", ("did", "n't")), ("isn't", ("is", "n't")),
    ("vardı", ("var", "dı")), ("yoktu", ("yok", "tu")), ("okurkenki", ("okur", "ken", "ki")),  # "+3+2" seen once
    ("du", ("de", "le")), ("Au", ("À", "le")), ("au", ("à", "le")), ("pain", ("pain",)),
]


def test_split_rules_are_the_lengths_of_the_words_cut_off():
    assert split_rule("Don't", ("Do", "n't")) == split_rule("vardır", ("var", "dır")) == "+3"
    assert split_rule("okurkenki", ("okur", "ken", "ki")) == "+3+2"
    assert split_rule("du", ("de", "le")) is None


def test_learned_rules_keep_frequent_splits_and_a_lexicon_of_non_slices():
    expander = MultiwordExpander.learn(TRAIN_TOKENS, min_rule_count=2)
    assert expander.split_rules == ["+3", "+2"]
    assert expander.lexicon == {"du": ("de", "le"), "au": ("à", "le")}
    assert expander.target("pain", ("pain",)) == NOT_MULTIWORD
    assert expander.target("Au", ("À", "le")) == LEXICON
    assert expander.target("okurkenki", ("okur", "ken", "ki")) is None  # its rule is not learned: no target


def test_split_rules_apply_to_unseen_tokens_and_keep_their_casing():
    expander = MultiwordExpander.learn(TRAIN_TOKENS, min_rule_count=2)
    assert expander.expand("WOULDN'T", expander.rule_ids["+3"]) == ("WOULD", "N'T")
    assert expander.expand("Yoktur", expander.rule_ids["+3"]) == ("Yok", "tur")
    assert expander.applicable("n't") == [NOT_MULTIWORD, expander.rule_ids["+2"]]  # "+3" would leave no host


def test_lexicon_words_take_the_casing_of_the_token():
    assert restore_case("Du", ("de", "le")) == ("De", "le")
    assert restore_case("DU", ("de", "le")) == ("DE", "le")
    assert restore_case("Au", ("à", "le")) == ("À", "le")
    expander = MultiwordExpander.learn(TRAIN_TOKENS)
    assert LEXICON in expander.applicable("DU")
    assert expander.expand("DU", LEXICON) == ("DE", "le")


def test_rules_survive_a_round_trip_through_their_dict():
    expander = MultiwordExpander.learn(TRAIN_TOKENS)
    again = MultiwordExpander.from_dict(expander.to_dict())
    assert again.split_rules == expander.split_rules and again.lexicon == expander.lexicon
