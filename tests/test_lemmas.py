"""Lemmas: an edit-script head trained with the tags, decoded to well-formed strings, scored on its own."""

from __future__ import annotations

import json
import sys
import threading

import torch
from safetensors import safe_open

from conftest import SAMPLE_DEV, SAMPLE_TRAIN
from tagger import Tagger
from tagger.data.conllu_io import Sentence, parse_conllu_text, read_conllu
from tagger.data.lemma_rules import IDENTITY, derive_rule
from tagger.data.vocab import EDIT_SCRIPTS, Vocabularies, build_vocabularies
from tagger.evaluation.metrics import tagging_accuracies
from tagger.model.decoding import LemmaDecoder


def _sentence(forms: list[str], lemmas: list[str], upos: list[str]) -> Sentence:
    sentence = Sentence.from_forms(forms)
    sentence.set_column("lemma", lemmas)
    sentence.set_column("upos", upos)
    return sentence


def test_the_lemma_column_learns_edit_scripts_not_lemmas():
    sentences = [_sentence(["Dogs", "were", "running"], ["dog", "be", "run"], ["NOUN", "AUX", "VERB"])]
    vocabs = build_vocabularies(sentences, ["upos", "lemma"], 1)
    assert vocabs.encodings == {"lemma": EDIT_SCRIPTS}
    assert set(vocabs.tags["lemma"].to_list()) == {derive_rule("Dogs", "dog"), derive_rule("were", "be"), derive_rule("running", "run"), IDENTITY}
    again = Vocabularies.from_dict(json.loads(json.dumps(vocabs.to_dict())))
    assert again.encodings == vocabs.encodings


def test_unannotated_lemmas_are_no_target():
    vocabs = build_vocabularies([_sentence(["a", "b"], ["_", "b"], ["X", "X"])], ["lemma"], 1)
    assert vocabs.targets(_sentence(["a", "b"], ["_", "b"], ["X", "X"]), "lemma") == ["<pad>", derive_rule("b", "b")]


def test_a_script_that_cannot_apply_is_never_chosen():
    scripts = ["<pad>", "<unk>", IDENTITY, derive_rule("running", "run")]  # the second strips 4 characters
    decoder = LemmaDecoder(scripts)
    scores = torch.tensor([[[5.0, 5.0, 0.1, 0.9], [5.0, 5.0, 0.1, 0.9]]])  # logits: pad and unk never win either
    lemmas, best = decoder(scores, [["runs", "jumping"]])
    assert lemmas == [["runs", "jum"]]  # "runs" is too short to lose four characters and keep one; "jumping" is not
    assert best.tolist() == [[2, 3]]


def test_remembered_lemmas_are_the_applied_ones_and_memory_stays_bounded():
    scripts = ["<pad>", "<unk>", IDENTITY, derive_rule("running", "run"), derive_rule("Dogs", "dog")]
    forms = [["jumping", "Cats", "walking", "jumping", "Hats"]]
    scores = torch.tensor([[[0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1]]], dtype=torch.float)
    small, large = LemmaDecoder(scripts, memory=2), LemmaDecoder(scripts)
    expected = [["jum", "cat", "wal", "jumping", "hat"]]  # running -> run strips four characters
    assert small(scores, forms)[0] == large(scores, forms)[0] == large(scores, forms)[0] == expected
    assert len(small.lemmas) <= 2 and len(large.lemmas) == 5


def test_threads_sharing_the_remembered_lemmas_without_a_lock_get_the_right_ones():
    """The memory is a plain dict (docs/python.md, Threads): every entry a pure function of its key, every dict
    step atomic. Eight threads with a memory of 3, cleared all the time, and a thread switch forced
    every microsecond: each lemma is still the applied one, and the memory passes 3 by at most 8."""
    scripts = ["<pad>", "<unk>", IDENTITY, derive_rule("running", "run"), derive_rule("Dogs", "dog")]
    expected = {(3, "jumping"): "jum", (4, "Cats"): "cat", (2, "Cats"): "Cats", (3, "walking"): "wal", (4, "Hats"): "hat"}
    decoder, wrong, start = LemmaDecoder(scripts, memory=3), [], threading.Barrier(8)

    def look_up(shift: int) -> None:
        start.wait()
        pairs = list(expected.items())
        for step in range(3000):
            (script, form), lemma = pairs[(step + shift) % len(pairs)]
            if decoder.lemma(script, form) != lemma:
                wrong.append((script, form))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=look_up, args=(shift,)) for shift in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == [] and len(decoder.lemmas) <= 3 + 8


def test_lemmas_are_scored_apart_from_alltags_and_unannotated_gold_counts_as_right():
    gold = [_sentence(["Dogs", "bark"], ["dog", "_"], ["NOUN", "VERB"])]
    predicted = [_sentence(["Dogs", "bark"], ["dogs", "barking"], ["NOUN", "VERB"])]
    scores = tagging_accuracies(gold, predicted, ["upos", "lemma"])
    assert scores == {"UPOS": 100.0, "Lemmas": 50.0}  # no AllTags over a single tag column; lemma apart


def test_a_trained_model_fills_the_lemma_column_everywhere_a_user_looks(tiny_model, tmp_path):
    with safe_open(str(tiny_model), framework="pt") as handle:
        assert json.loads(handle.metadata()["vocabs"])["encodings"] == {"lemma": EDIT_SCRIPTS}
    tagger = Tagger.load(tiny_model)
    assert "lemma" in tagger.columns
    document = tagger.tag("The dogs were barking.")
    lemmas = [token.lemma for token in document[0]]
    assert all(lemma and lemma != "_" for lemma in lemmas)
    (written,) = parse_conllu_text(document.to_conllu())
    assert written.column("lemma") == lemmas
    assert all("lemma" in token for token in json.loads(document[0].to_json())["tokens"])
    scores = json.loads((tiny_model.parent / "scores.json").read_text())["dev"]
    assert scores["Lemmas"] > 80.0 and "AllTags" in scores


def test_range_lines_keep_their_lemma_column(tiny_model):
    text = "1-2\tcan't\tCAN'T-LEMMA\t_\t_\t_\t_\t_\t_\t_\n1\tca\t_\t_\t_\t_\t_\t_\t_\t_\n2\tn't\t_\t_\t_\t_\t_\t_\t_\t_\n\n"
    (sentence,) = Tagger.load(tiny_model).tag(text)
    assert sentence.sentence.rows[0][2] == "CAN'T-LEMMA"


def test_models_from_before_lemmas_read_a_lemma_column_as_whole_lemmas():
    old = Vocabularies.from_dict({"words": [], "chars": [], "tags": {"lemma": ["go", "be"]}})
    assert old.encodings == {} and old.targets(_sentence(["went"], ["go"], ["VERB"]), "lemma") == ["go"]


def test_train_scripts_express_nearly_every_dev_lemma_of_the_sample():
    vocabs = build_vocabularies(read_conllu(SAMPLE_TRAIN), ["lemma"], 1)
    targets = [t for s in read_conllu(SAMPLE_DEV) for t in vocabs.targets(s, "lemma") if t != "<pad>"]
    assert sum(t in vocabs.tags["lemma"] for t in targets) / len(targets) > 0.97
