"""NER end to end on a UNER sample: train with `experiment=ner`, select on dev span F1, score, tag."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module

from tagger.cli import main as cli_main
from tagger.data.iob import to_iob2
from tagger.data.readers import read_data
from tagger.inference.tagger import Tagger
from tagger.model.model_file import load_model

from conftest import DATA, TINY_MODEL

UNER_TRAIN = DATA / "uner_pt_sample_train.iob2"
UNER_DEV = DATA / "uner_pt_sample_dev.iob2"
ONLY_IN_VECTORS = "palavra-so-nos-vetores"


def write_vectors(path: Path, dim: int) -> dict[str, list[float]]:
    """Vectors for a few train words and one word no data file holds, in word2vec text format."""
    rng = random.Random(0)
    words = ["governo", "Brasil", "de", ONLY_IN_VECTORS]
    vectors = {word: [round(rng.uniform(-1, 1), 4) for _ in range(dim)] for word in words}
    lines = [f"{len(words)} {dim}"] + [" ".join([word, *map(str, vector)]) for word, vector in vectors.items()]
    path.write_text("\n".join(lines) + "\n")
    return vectors


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory) -> tuple[Path, dict]:
    from tagger.training.train import train

    run_dir = tmp_path_factory.mktemp("ner_run")
    vectors = write_vectors(run_dir / "vectors.txt", dim=48)
    with initialize_config_module("tagger.conf", version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=ner", "data=uner_pt_bosque",
            f"data.train={UNER_TRAIN}", f"data.dev={UNER_DEV}", f"data.test={UNER_DEV}",
            f"run_dir={run_dir}", "threads=1", "trainer.max_epochs=8", "schedule.warmup_steps=10", "data.max_tokens=150",
            "optimizer.lr=5e-3", "trainer.enable_progress_bar=false", "~callbacks.progress_bar",
            "trainer.enable_model_summary=false", *TINY_MODEL,
            f"model.word_embeddings.pretrained={run_dir / 'vectors.txt'}", "model.word_embeddings.extend_vocab=true",
        ])
    train(cfg)
    return run_dir, vectors


@pytest.mark.slow
def test_ner_run_logs_dev_span_f1_and_selects_on_it(ner_run):
    run_dir, _ = ner_run
    with (run_dir / "logs" / "metrics.csv").open() as stream:
        rows = [row for row in csv.DictReader(stream) if row.get("dev/ner_f1")]
    assert len(rows) == 8
    bundle = load_model(run_dir / "model.safetensors")
    best = max(float(row["dev/ner_f1"]) for row in rows)
    assert bundle.provenance["best_dev"]["dev/ner_f1"] == pytest.approx(best)
    scores = json.loads((run_dir / "scores.json").read_text())
    assert {"NER-P", "NER-R", "NER-F1", "NER-PER-F1"} <= set(scores["test"])
    assert scores["dev"]["NER-F1"] == pytest.approx(best, abs=0.01)  # dev metric and seqeval agree


@pytest.mark.slow
def test_predictions_never_hold_an_invalid_span(ner_run):
    run_dir, _ = ner_run
    tagger = Tagger(load_model(run_dir / "model.safetensors"))
    for sentence in tagger.predict(read_data(UNER_DEV, "uner", columns=["misc:NER"])):
        tags = sentence.column("misc:NER")
        assert to_iob2(tags)[1] == 0, tags


@pytest.mark.slow
def test_pretrained_vectors_extend_the_vocabulary_and_travel_in_the_model_file(ner_run):
    run_dir, vectors = ner_run
    bundle = load_model(run_dir / "model.safetensors")
    index = bundle.vocabs.words.index(ONLY_IN_VECTORS)
    assert index > 1
    row = bundle.network.words.embedding.weight[index]
    # never seen in training: only weight decay shrank it, so its direction is the file's
    cosine = torch.nn.functional.cosine_similarity(row, torch.tensor(vectors[ONLY_IN_VECTORS]), dim=0)
    assert cosine > 0.999


@pytest.mark.slow
def test_eval_prints_span_scores_for_a_uner_file(ner_run, capsys):
    run_dir, _ = ner_run
    assert cli_main(["eval", str(run_dir / "model.safetensors"), str(UNER_DEV), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert {"NER-P", "NER-R", "NER-F1"} <= set(scores) and "UPOS" not in scores


def _spans_by_hand(tags: list[str]) -> list[tuple[int, int, str]]:
    """(first word, word after the last, type) of every B- tag and the I- tags of its type that follow it."""
    spans, start, kind = [], None, None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and tag != f"I-{kind}":
            spans.append((start, i, kind))
            start = None
        if tag.startswith("B-"):
            start, kind = i, tag[2:]
    return spans


@pytest.mark.slow
def test_tag_json_lists_entities_with_character_offsets(ner_run):
    run_dir, _ = ner_run
    tagger = Tagger(load_model(run_dir / "model.safetensors"), language="pt")
    text = "\n\n".join(" ".join(sentence.forms) for sentence in read_data(UNER_DEV, "uner"))
    document = tagger.tag(text)
    found = 0
    for sentence in document:
        tokens = sentence.tokens
        for token in tokens:
            if token.multiword is None:
                assert text[token.start : token.end] == token.form  # the offsets the spans below are built on
        expected = [
            {"text": text[tokens[first].start : tokens[last - 1].end], "type": kind, "token_start": tokens[first].id,
             "token_end": tokens[last - 1].id, "start": tokens[first].start, "end": tokens[last - 1].end}
            for first, last, kind in _spans_by_hand([token["misc:NER"] for token in tokens])
        ]
        assert sentence.entities == expected
        assert sentence.to_dict()["entities"] == expected  # the JSON output: [] where a sentence has none
        found += len(expected)
    assert found >= 5  # the tiny model finds entities in the dev sample


@pytest.mark.slow
def test_an_ner_models_tokens_name_the_entity_tag_and_read_unpredicted_columns_as_none(ner_run):
    run_dir, _ = ner_run
    (sentence,) = Tagger(load_model(run_dir / "model.safetensors"), language="pt").tag("O Lula visitou Lisboa.")
    for token in sentence:
        assert token.ner == token.tags["misc:NER"] and token.ner in ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")
        assert token.upos is None and token.xpos is None and token.lemma is None and token.feats is None
        assert token.features == {}
    as_json = sentence.to_dict()["tokens"][1]
    assert as_json["ner"] == sentence.tokens[1].ner and "misc:NER" not in as_json  # one name for the entity tag
    with pytest.raises(AttributeError):
        sentence.tokens[0].uppos  # a misspelt name is still an error, not None
