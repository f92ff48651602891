"""A segmenter learned with the tagger travels in its model file and tags raw text end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors import safe_open

from conftest import DATA, SAMPLE_DEV, compose_config
from tagger import Tagger
from tagger.cli import main
from tagger.errors import TaggerError
from tagger.training.train import train

# learn=true: kept whatever its dev figures (300 steps do not beat the English rules on the sample, which
# auto would ask of it; tests/test_training_defaults.py tests that choice)
SEGMENTER = ["segmenter.learn=true", "segmenter.network.hidden_size=32", "segmenter.training.max_steps=300",
             "segmenter.training.eval_every=100"]


@pytest.fixture(scope="module")
def segmenting_model(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("segmenting_run")
    train(compose_config(run_dir, ["trainer.max_epochs=4", "optimizer.lr=5e-3", *SEGMENTER]))
    return run_dir / "model.safetensors"


def test_the_segmenter_travels_in_the_model_file(segmenting_model):
    with safe_open(str(segmenting_model), framework="pt") as handle:
        assert json.loads(handle.metadata()["segmenter"])["format"].startswith("segmenter/")
        assert any(name.startswith("segmenter.") for name in handle.keys())
    tagger = Tagger.load(segmenting_model)
    assert tagger.tokenizer_kind == "learned" and tagger.tokenizer.segmenter is tagger.bundle.segmenter


def test_learned_tokens_keep_exact_offsets_and_the_rules_remain_a_choice(segmenting_model):
    text = "The dog barked at the mailman.  It did not stop!\n\nWe left early."
    learned = Tagger.load(segmenting_model).tag(text)
    tokens = [token for sentence in learned for token in sentence]
    assert tokens and all(text[t.start : t.end] == t.form for t in tokens if t.multiword is None)
    assert all(text[t.multiword.start : t.multiword.end] == t.multiword.form for t in tokens if t.multiword)
    covered = {i for t in tokens for i in range(t.start, t.end)}
    assert covered == {i for i, char in enumerate(text) if not char.isspace()}  # every visible character, once
    assert len(learned) >= 2  # a blank line always ends a sentence
    rules = Tagger.load(segmenting_model, tokenizer="rules").tag(text)
    assert [t.form for t in rules[0]][:3] == ["The", "dog", "barked"]


def test_eval_raw_scores_the_learned_pipeline(segmenting_model, capsys):
    assert main(["eval", str(segmenting_model), str(SAMPLE_DEV), "--raw", "--json"]) == 0
    learned = json.loads(capsys.readouterr().out)
    assert learned["Tokens"] > 95.0 and learned["Words"] > 95.0
    assert main(["eval", str(segmenting_model), str(SAMPLE_DEV), "--raw", "--json", "--tokenizer", "rules"]) == 0
    assert json.loads(capsys.readouterr().out)["Tokens"] > 95.0


def test_a_model_without_a_segmenter_cannot_be_asked_for_one(tiny_model):
    with pytest.raises(TaggerError, match="has no learned segmenter"):
        Tagger.load(tiny_model, tokenizer="learned")


def test_asking_for_a_segmenter_from_data_without_raw_text_is_refused_before_training(tmp_path):
    uner = ["data.format=uner", f"data.train={DATA / 'uner_pt_sample_train.iob2'}", f"data.dev={DATA / 'uner_pt_sample_dev.iob2'}",
            "data.test=null", "data.columns=[misc:NER]", "monitor=dev/ner_f1", "segmenter.learn=true"]
    with pytest.raises(TaggerError, match="has no raw text .*cannot be learned"):
        train(compose_config(tmp_path / "run", uner))
    assert not (tmp_path / "run" / "checkpoints").exists()
