"""Scores the way the CoNLL 2018 shared task computes them: accuracy over syntactic words."""

from __future__ import annotations

from collections.abc import Sequence

from tagger.data.conllu_io import Sentence

METRIC_NAMES = {"upos": "UPOS", "xpos": "XPOS", "feats": "UFeats"}


def metric_name(column: str) -> str:
    return METRIC_NAMES.get(column, column)


def _normalise(column: str, value: str) -> str | frozenset[str]:
    # FEATS is a set of attribute=value pairs: order does not matter
    return frozenset(value.split("|")) if column == "feats" else value


def tagging_accuracies(gold: Sequence[Sentence], predicted: Sequence[Sentence], columns: Sequence[str]) -> dict[str, float]:
    """Per-column accuracy in percent, plus AllTags (every tagged column right) when there are several."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    correct = {column: 0 for column in columns}
    all_correct = total = 0
    for gold_sentence, predicted_sentence in zip(gold, predicted):
        if gold_sentence.forms != predicted_sentence.forms:
            raise ValueError(f"sentence at line {gold_sentence.line} has different words in the prediction")
        hits = [
            [_normalise(c, g) == _normalise(c, p) for g, p in zip(gold_sentence.column(c), predicted_sentence.column(c))]
            for c in columns
        ]
        for column, column_hits in zip(columns, hits):
            correct[column] += sum(column_hits)
        all_correct += sum(all(word_hits) for word_hits in zip(*hits))
        total += len(gold_sentence)
    scores = {metric_name(c): 100.0 * correct[c] / max(total, 1) for c in columns}
    if len(columns) > 1:
        scores["AllTags"] = 100.0 * all_correct / max(total, 1)
    return scores
