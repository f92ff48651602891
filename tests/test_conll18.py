"""CoNLL 2018 scores from raw text: tokens and sentences by character spans, words by alignment.

Expected figures are worked out by hand in each test's comment (F1 = 2 * correct / (gold + system)).
"""

from __future__ import annotations

import pytest

from conftest import SAMPLE_DEV
from tagger.data.conllu_io import Sentence, parse_conllu_text, read_conllu
from tagger.evaluation.conll18 import METRICS, evaluate_conll18, f1_scores
from tagger.errors import DataFormatError


def sentences(*tokens_per_sentence: str) -> list[Sentence]:
    """Sentences of tokens written "form" or, for a multiword token, "form=word+word"."""
    blocks = []
    for tokens in tokens_per_sentence:
        lines, n = [], 0
        for token in tokens.split():
            form, _, words = token.partition("=")
            if words:
                parts = words.split("+")
                lines.append(f"{n + 1}-{n + len(parts)}\t{form}" + "\t_" * 8)
            else:
                parts = [form]
            for word in parts:
                n += 1
                lines.append(f"{n}\t{word}" + "\t_" * 8)
        blocks.append("\n".join(lines) + "\n\n")
    return parse_conllu_text("".join(blocks))


def f1(gold: list[Sentence], system: list[Sentence], metric: str) -> float:
    return round(evaluate_conll18(gold, system)[metric].f1, 2)


def test_gold_against_itself_scores_100_everywhere():
    gold = read_conllu(SAMPLE_DEV)
    assert f1_scores(evaluate_conll18(gold, gold)) == {metric: 100.0 for metric in METRICS}


def test_a_split_token_costs_one_gold_and_two_system_tokens():
    scores = evaluate_conll18(sentences("Hello world ."), sentences("Hel lo world ."))
    # 2 of 3 gold tokens found among 4 system tokens: P 2/4, R 2/3, F1 4/7
    tokens = scores["Tokens"]
    assert (tokens.precision, round(tokens.recall, 2), round(tokens.f1, 2)) == (50.0, 66.67, 57.14)
    assert round(scores["Words"].f1, 2) == 57.14
    assert scores["Sentences"].f1 == 100.0


def test_a_merged_token_matches_neither_gold_token():
    # only "." matches: 1 of 3 gold, 1 of 2 system -> F1 2/5
    assert f1(sentences("New York ."), sentences("NewYork ."), "Tokens") == 40.0


def test_sentences_match_only_with_both_ends_right():
    gold, system = sentences("Hi .", "Yes .", "Bye ."), sentences("Hi . Yes .", "Bye .")
    scores = evaluate_conll18(gold, system)
    # "Bye ." alone matches: P 1/2, R 1/3, F1 2/5; the tokens are all right
    found = scores["Sentences"]
    assert (found.precision, round(found.recall, 2), found.f1) == (50.0, 33.33, 40.0)
    assert scores["Tokens"].f1 == 100.0


def test_a_multiword_token_expanded_wrongly_loses_its_words_not_its_token():
    scores = evaluate_conll18(sentences("I don't=do+n't know"), sentences("I don't=don+'t know"))
    # the token is right; of the words only "I" and "know" align: 2 of 4 on each side
    assert (scores["Tokens"].f1, scores["Words"].f1) == (100.0, 50.0)


def test_du_left_unexpanded_aligns_none_of_its_words():
    gold = sentences("du=de+le pain")
    # gold words de le pain, system words du pain: only "pain" aligns -> P 1/2, R 1/3, F1 2/5
    scores = evaluate_conll18(gold, sentences("du pain"))
    assert (scores["Tokens"].f1, scores["Words"].precision, scores["Words"].f1) == (100.0, 50.0, 40.0)
    assert f1(gold, sentences("du=de+le pain"), "Words") == 100.0


def test_words_in_multiword_regions_align_regardless_of_case():
    assert f1(sentences("Du=De+le pain"), sentences("Du=de+le pain"), "Words") == 100.0


@pytest.mark.parametrize(
    ("gold", "system", "aligned"),
    [  # the alignment cases of the official script's own tests (ufal/conll2018, conll18_ud_eval.py)
        ("abc=a+b+c", "a b c", 3),
        ("a bc=b+c d", "a b c d", 4),
        ("abcd=a+b+c+d", "ab=a+b cd=c+d", 4),
        ("abc=a+b+c de=d+e", "a bcd=b+c+d e", 5),
        ("abcd", "a b c d", 0),
        ("abc d", "a b c d", 1),
        ("a bc d", "a b c d", 2),
        ("a bc=b+c d", "a b cd", 2),
        ("abc=a+BX+c def=d+EX+f", "ab=a+b cd=c+d ef=e+f", 4),
        ("ab=a+b cd=bc+d", "a bc d", 2),
        ("a bc=b+c d", "ab=AX+BX cd=CX+a", 1),
    ],
)
def test_words_align_as_in_the_official_script(gold: str, system: str, aligned: int):
    assert evaluate_conll18(sentences(gold), sentences(system))["Words"].correct == aligned


TAGGED_GOLD = """\
1\tThe\tthe\tDET\tDT\tDefinite=Def|PronType=Art\t_\t_\t_\t_
2\tcats\t_\tNOUN\tNNS\tNumber=Plur\t_\t_\t_\t_
3\tsleep\tsleep\tVERB\tVBP\tTense=Pres|Mood=Ind\t_\t_\t_\t_

"""


def tagged(rows: list[str]) -> list[Sentence]:
    lines = [f"{i}\t" + row.replace(" ", "\t") + "\t_\t_\t_\t_" for i, row in enumerate(rows, start=1)]
    return parse_conllu_text("\n".join(lines) + "\n\n")


def test_tags_are_scored_over_aligned_words_against_both_word_counts():
    gold = parse_conllu_text(TAGGED_GOLD)
    system = tagged([
        "Th th DET DT PronType=Art|Definite=Def",
        "e e X X _",
        "cats cat NOUN NNS Number=Plur",
        "sleep x NOUN VBP Mood=Ind|Tense=Pres",
    ])
    scores = evaluate_conll18(gold, system)
    # aligned: cats, sleep (2 of 3 gold, 2 of 4 system); UPOS right on cats only -> F1 2/7, accuracy 1/2
    assert (round(scores["UPOS"].f1, 2), scores["UPOS"].aligned_accuracy) == (28.57, 50.0)
    # FEATS order does not matter: both aligned words right -> F1 4/7
    assert round(scores["UFeats"].f1, 2) == round(scores["Words"].f1, 2) == 57.14
    assert round(scores["AllTags"].f1, 2) == 28.57
    # gold lemma "_" counts as right whatever the system says; "x" for "sleep" is wrong
    assert round(scores["Lemmas"].f1, 2) == 28.57


def test_ufeats_count_only_universal_features_unless_asked_for_all():
    gold = parse_conllu_text(TAGGED_GOLD)
    system = tagged([
        "The the DET DT Definite=Def|PronType=Art|Style=Coll",
        "cats _ NOUN NNS Number=Plur",
        "sleep sleep VERB VBP Mood=Ind|Tense=Pres",
    ])
    assert evaluate_conll18(gold, system)["UFeats"].f1 == 100.0
    assert round(evaluate_conll18(gold, system, universal_features_only=False)["UFeats"].f1, 2) == 66.67


def test_empty_nodes_are_not_scored():
    gold = parse_conllu_text("".join(f"{token_id}\t{form}" + "\t_" * 8 + "\n" for token_id, form in
                                     (("1", "Go"), ("1.1", "you"), ("2", "!"))) + "\n")
    assert f1_scores(evaluate_conll18(gold, sentences("Go !")))["Words"] == 100.0


def one_token(form: str) -> list[Sentence]:
    return parse_conllu_text(f"1\t{form}" + "\t_" * 8 + "\n\n")


def test_spaces_inside_forms_are_ignored_when_matching_the_texts():
    gold = one_token("20 000")
    assert f1(gold, one_token("20\u00a0000"), "Tokens") == 100.0  # any space separator (Zs) is removed
    assert f1(gold, sentences("20 000"), "Tokens") == 0.0  # the same characters, tokenised as two


def test_texts_that_differ_are_an_error_naming_where():
    with pytest.raises(DataFormatError, match=r"system:\d+: .*gold has 'cat\.', the system 'dog\.'"):
        evaluate_conll18(sentences("The", "cat ."), sentences("The", "dog ."))
