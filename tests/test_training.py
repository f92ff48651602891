"""A tiny model trained on the carried sample learns more than a most-frequent-tag baseline."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest

from tagger.data.conllu_io import read_conllu
from tagger.evaluation.metrics import tagging_accuracies
from tagger.inference.tagger import Tagger
from tagger.model.model_file import load_model

from conftest import SAMPLE_DEV, SAMPLE_TRAIN


def most_frequent_tag_accuracy(column: str) -> float:
    """Each known word gets its most frequent training tag; unknown words the commonest tag overall."""
    by_word: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for sentence in read_conllu(SAMPLE_TRAIN):
        for form, tag in zip(sentence.forms, sentence.column(column)):
            by_word[form][tag] += 1
            overall[tag] += 1
    fallback = overall.most_common(1)[0][0]
    right = total = 0
    for sentence in read_conllu(SAMPLE_DEV):
        for form, tag in zip(sentence.forms, sentence.column(column)):
            guess = by_word[form].most_common(1)[0][0] if form in by_word else fallback
            right += guess == tag
            total += 1
    return 100.0 * right / total


@pytest.mark.slow
def test_tiny_training_clearly_beats_most_frequent_tag(tiny_model):
    gold = read_conllu(SAMPLE_DEV)
    predicted = Tagger(load_model(tiny_model)).predict(read_conllu(SAMPLE_DEV))
    scores = tagging_accuracies(gold, predicted, ["upos", "xpos", "feats"])
    baseline = most_frequent_tag_accuracy("upos")
    assert scores["UPOS"] > baseline + 3, (scores, baseline)


@pytest.mark.slow
def test_training_run_leaves_model_scores_logs_and_checkpoints(tiny_model):
    run_dir = tiny_model.parent
    scores = json.loads((run_dir / "scores.json").read_text())
    assert set(scores["dev"]) == {"UPOS", "XPOS", "UFeats", "Feats", "AllTags", "Lemmas"}
    assert scores["train_seconds"] > 0  # what the README's training-time columns report
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "logs" / "metrics.csv").is_file()
    bundle = load_model(tiny_model)
    assert bundle.columns == ["upos", "xpos", "feats", "lemma"]
    assert bundle.provenance["data"] == "sample"
    assert bundle.provenance["language"] == "en"  # so raw text gets the English tokenizer


@pytest.mark.slow
def test_a_model_tokenizes_raw_text_for_the_language_it_was_trained_on(tiny_model):
    words = [token.form for token in Tagger.load(tiny_model).tag("It didn't stop.")[0].tokens]
    assert words == ["It", "did", "n't", "stop", "."]


@pytest.mark.slow
def test_exported_model_is_the_best_on_dev_and_reproduces_its_score(tiny_model):
    bundle = load_model(tiny_model)
    dev_upos = bundle.provenance["best_dev"]["dev/upos"]
    scores = json.loads((tiny_model.parent / "scores.json").read_text())
    assert scores["dev"]["UPOS"] == pytest.approx(dev_upos, abs=0.01)
