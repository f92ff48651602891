"""Entity scores: seqeval strict IOB2 spans, and the dev metric's span counts agree with seqeval."""

from __future__ import annotations

import random

import pytest
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

from tagger.data.conllu_io import Sentence
from tagger.data.iob import to_iob2
from tagger.evaluation.metrics import entity_label, entity_scores, f1_from_counts, span_counts, tagging_scores


def random_iob2(rng: random.Random, length: int) -> list[str]:
    return to_iob2([rng.choice(["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC"]) for _ in range(length)])[0]


def test_entity_scores_give_micro_and_per_type_precision_recall_f1():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "B-LOC"]]
    scores = entity_scores(gold, predicted)
    assert scores["NER-P"] == pytest.approx(200 / 3)
    assert scores["NER-R"] == pytest.approx(200 / 3)
    assert scores["NER-PER-F1"] == 100.0
    assert scores["NER-LOC-F1"] == 0.0


def test_a_partial_span_counts_as_wrong_in_strict_mode():
    scores = entity_scores([["B-PER", "I-PER"]], [["B-PER", "O"]])
    assert scores["NER-F1"] == 0.0


def test_dev_span_counts_match_seqeval_strict_on_random_sequences():
    rng = random.Random(0)
    gold, predicted = [], []
    totals = [0, 0, 0]
    for _ in range(300):
        length = rng.randint(1, 15)
        gold.append(random_iob2(rng, length))
        predicted.append(random_iob2(rng, length))
        totals = [a + b for a, b in zip(totals, span_counts(gold[-1], predicted[-1]))]
    precision, recall, f1 = f1_from_counts(*totals)
    options = {"mode": "strict", "scheme": IOB2}
    assert precision == pytest.approx(100 * precision_score(gold, predicted, **options))
    assert recall == pytest.approx(100 * recall_score(gold, predicted, **options))
    assert f1 == pytest.approx(100 * f1_score(gold, predicted, **options))


def test_tagging_scores_give_spans_for_entity_columns_and_accuracy_for_others():
    def sentence(upos: list[str], ner: list[str]) -> Sentence:
        record = Sentence.from_forms(["Ana", "mora", "em", "Lisboa"])
        record.set_column("upos", upos)
        record.set_column("misc:NER", ner)
        return record

    gold = [sentence(["PROPN", "VERB", "ADP", "PROPN"], ["B-PER", "O", "O", "B-LOC"])]
    predicted = [sentence(["PROPN", "VERB", "ADP", "NOUN"], ["B-PER", "O", "O", "O"])]
    scores = tagging_scores(gold, predicted, ["upos", "misc:NER"])
    assert scores["UPOS"] == 75.0
    assert scores["NER-P"] == 100.0 and scores["NER-R"] == 50.0
    assert "AllTags" not in scores
    assert entity_label("misc:NER") == "NER"
