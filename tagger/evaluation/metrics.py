"""Scores the way the CoNLL 2018 shared task computes them: accuracy over syntactic words.

As `conll18_ud_eval.py` does, UFeats and AllTags compare only the universal features of FEATS
(order-insensitive); `Feats` is the accuracy of the whole FEATS string, language-specific
features included, which is what the model predicts.

Entity columns (IOB2 tags, e.g. `misc:NER`) are scored as spans instead, with seqeval in
strict IOB2 mode: precision, recall and F1, micro-averaged and per entity type.
"""

from __future__ import annotations

from collections.abc import Sequence

from tagger.data.conllu_io import MISC_PREFIX, Sentence
from tagger.data.iob import entity_spans
from tagger.data.readers import is_entity_column
from tagger.evaluation.conll18 import UNIVERSAL_FEATURES

METRIC_NAMES = {"upos": "UPOS", "xpos": "XPOS", "feats": "UFeats", "lemma": "Lemmas"}
WHOLE_FEATS = "Feats"  # accuracy of the whole FEATS string, beside the official UFeats
ALL_TAGS = ("upos", "xpos", "feats")  # CoNLL 2018's AllTags: these together (lemmas are scored on their own)


def metric_name(column: str) -> str:
    return METRIC_NAMES.get(column, column)


def _features(value: str, universal_only: bool) -> frozenset[str]:
    """FEATS as a set of attribute=value pairs (order does not matter); `_` is the empty set."""
    pairs = [] if value == "_" else value.split("|")
    return frozenset(p for p in pairs if not universal_only or p.partition("=")[0] in UNIVERSAL_FEATURES)


def _right(column: str, gold: str, predicted: str) -> bool:
    """Right the way the official script counts it (FEATS: universal features only)."""
    if column == "lemma" and gold == "_":  # an unannotated lemma, as CoNLL 2018 scores it: anything goes
        return True
    if column == "feats":
        return _features(gold, True) == _features(predicted, True)
    return gold == predicted


def tagging_accuracies(gold: Sequence[Sentence], predicted: Sequence[Sentence], columns: Sequence[str]) -> dict[str, float]:
    """Per-column accuracy in percent (FEATS as the official UFeats and as whole-string `Feats`), plus
    AllTags (all of UPOS, XPOS, UFeats right; every tagged column for other column sets) when there are several."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    together = [c for c in columns if c in ALL_TAGS] if any(c in ALL_TAGS for c in columns) else list(columns)
    correct = {column: 0 for column in columns}
    all_correct = total = whole_feats = 0
    for gold_sentence, predicted_sentence in zip(gold, predicted):
        if gold_sentence.forms != predicted_sentence.forms:
            raise ValueError(f"sentence at line {gold_sentence.line} has different words in the prediction")
        hits = {
            c: [_right(c, g, p) for g, p in zip(gold_sentence.column(c), predicted_sentence.column(c))] for c in columns
        }
        for column, column_hits in hits.items():
            correct[column] += sum(column_hits)
        all_correct += sum(all(word_hits) for word_hits in zip(*(hits[c] for c in together)))
        if "feats" in columns:
            whole_feats += sum(_features(g, False) == _features(p, False)
                               for g, p in zip(gold_sentence.column("feats"), predicted_sentence.column("feats")))
        total += len(gold_sentence)
    scores = {metric_name(c): 100.0 * correct[c] / max(total, 1) for c in columns}
    if "feats" in columns:
        scores[WHOLE_FEATS] = 100.0 * whole_feats / max(total, 1)
    if len(together) > 1:
        scores["AllTags"] = 100.0 * all_correct / max(total, 1)
    return scores


def entity_label(column: str) -> str:
    """The name entity scores carry: `misc:NER` -> NER."""
    return column[len(MISC_PREFIX):].upper() if column.startswith(MISC_PREFIX) else column.upper()


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], label: str = "NER") -> dict[str, float]:
    """seqeval strict-IOB2 span P/R/F1 in percent: `NER-P`, `NER-R`, `NER-F1`, then `NER-PER-F1` etc. per type."""
    # imported here: seqeval needs scikit-learn, which scoring POS, lemmas and raw text does not
    # (a GPU machine set up from a few wheels has no scikit-learn)
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    report = classification_report(
        [list(tags) for tags in gold], [list(tags) for tags in predicted],
        mode="strict", scheme=IOB2, output_dict=True, zero_division=0,
    )
    scores: dict[str, float] = {}
    for name in ["micro avg"] + sorted(k for k in report if not k.endswith(" avg")):
        prefix = label if name == "micro avg" else f"{label}-{name}"
        for short, key in (("P", "precision"), ("R", "recall"), ("F1", "f1-score")):
            scores[f"{prefix}-{short}"] = 100.0 * float(report[name][key])
    return scores


def span_counts(gold: Sequence[str], predicted: Sequence[str]) -> tuple[int, int, int]:
    """(correct, predicted, gold) entity counts of one sentence: what micro P/R/F1 is summed from."""
    gold_spans, predicted_spans = set(entity_spans(gold)), set(entity_spans(predicted))
    return len(gold_spans & predicted_spans), len(predicted_spans), len(gold_spans)


def f1_from_counts(correct: float, predicted: float, gold: float) -> tuple[float, float, float]:
    """Precision, recall, F1 in percent; 0 where undefined, as seqeval's zero_division=0."""
    precision = 100.0 * correct / predicted if predicted else 0.0
    recall = 100.0 * correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def tagging_scores(gold: Sequence[Sentence], predicted: Sequence[Sentence], columns: Sequence[str]) -> dict[str, float]:
    """Span scores for entity columns, accuracies (and AllTags over them) for the others."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    for gold_sentence, predicted_sentence in zip(gold, predicted):
        if gold_sentence.forms != predicted_sentence.forms:
            raise ValueError(f"sentence at line {gold_sentence.line} has different words in the prediction")
    entity_columns = [c for c in columns if is_entity_column(c, gold)]
    other = [c for c in columns if c not in entity_columns]
    scores = tagging_accuracies(gold, predicted, other) if other else {}
    for column in entity_columns:
        scores.update(entity_scores([s.column(column) for s in gold], [s.column(column) for s in predicted],
                                    entity_label(column)))
    return scores
