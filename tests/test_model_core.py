"""The shared core: one package layout, one evaluate path, encoding constants that travel in the model file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conftest import SAMPLE_DEV
from tagger.data.conllu_io import read_conllu
from tagger.evaluation.conll18 import UNIVERSAL_FEATURES
from tagger.evaluation.evaluate import evaluate_file
from tagger.model.model_file import load_model
from tagger.prediction.predictor import Predictor
from tagger.training.run_dir import _with_legacy_keys

PACKAGE = Path(__file__).resolve().parent.parent / "tagger"


def _imports(package: str) -> set[str]:
    found = set()
    for path in (PACKAGE / package).rglob("*.py"):
        found.update(re.findall(r"^\s*(?:from|import) tagger\.(\w+)", path.read_text(), re.M))
    return found - {package}


# Each package and the packages it may import (shared leaves: errors, atomic_file, device, memory).
LAYERS = {
    "data": set(),
    "model": {"data"},
    "segmentation": {"data", "model"},
    "prediction": {"data", "model"},
    "evaluation": {"data", "model", "prediction"},
    "training": {"data", "model", "segmentation", "prediction", "evaluation"},
    "inference": {"data", "model", "segmentation", "prediction", "evaluation"},
    "packaging": {"data", "model", "inference", "evaluation"},
    "serving": {"inference"},
}
LEAVES = {"errors", "atomic_file", "device", "memory"}


def _reachable(package: str) -> set[str]:
    seen, todo = set(), [package]
    while todo:
        for imported in _imports(todo.pop()) - LEAVES:
            if imported not in seen:
                seen.add(imported)
                todo.append(imported)
    return seen


def test_each_package_imports_only_the_layers_below_it():
    for package, allowed in LAYERS.items():
        assert _imports(package) - LEAVES <= allowed, package


def test_training_and_inference_never_reach_each_other_through_any_package():
    assert "inference" not in _reachable("training")
    assert "training" not in _reachable("inference")
    assert _reachable("data") == set()  # records and files only


def test_model_files_record_their_encoding_constants(tiny_model):
    with safe_open(str(tiny_model), framework="pt") as handle:
        config = json.loads(handle.metadata()["config"])
    assert config["max_word_chars"] == 32
    assert load_model(tiny_model).max_word_chars == 32


def test_model_files_written_before_the_constants_were_recorded_still_load(tiny_model, tmp_path):
    with safe_open(str(tiny_model), framework="pt") as handle:
        metadata = handle.metadata()
    config = json.loads(metadata["config"])
    del config["max_word_chars"]
    old = tmp_path / "old.safetensors"
    save_file(load_file(str(tiny_model)), str(old), metadata={**metadata, "config": json.dumps(config)})
    assert load_model(old).max_word_chars == 32


def _word_rows(conllu: str) -> list[list[str]]:
    """ID..FEATS of every syntactic word, read with a plain split: range lines (3-4) and empty nodes (5.1) are no words."""
    return [line.split("\t")[:6] for line in conllu.splitlines()
            if line and not line.startswith("#") and line.split("\t")[0].isdigit()]


def _hand_counted(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """UPOS, XPOS, UFeats (the universal features of FEATS, in any order, as the CoNLL 2018 script),
    Feats (the whole FEATS), AllTags (UPOS, XPOS, UFeats) and Lemmas (a gold `_` takes any lemma) in percent
    of the words, counted one word at a time."""
    assert [row[:2] for row in gold] == [row[:2] for row in predicted]

    def universal(feats: str) -> list[str]:
        return sorted(f for f in feats.split("|") if f.partition("=")[0] in UNIVERSAL_FEATURES)

    right = {"UPOS": 0, "XPOS": 0, "UFeats": 0, "Feats": 0, "AllTags": 0, "Lemmas": 0}
    for (_, _, gold_lemma, gold_upos, gold_xpos, gold_feats), (_, _, lemma, upos, xpos, feats) in zip(gold, predicted):
        upos_right, xpos_right = gold_upos == upos, gold_xpos == xpos
        feats_right = universal(gold_feats) == universal(feats)
        right["UPOS"] += upos_right
        right["XPOS"] += xpos_right
        right["UFeats"] += feats_right
        right["Feats"] += sorted(gold_feats.split("|")) == sorted(feats.split("|"))
        right["AllTags"] += upos_right and xpos_right and feats_right
        right["Lemmas"] += gold_lemma == "_" or gold_lemma == lemma
    return {name: 100.0 * count / len(gold) for name, count in right.items()}


def _predicted_conllu(model_path: Path, gold: Path) -> str:
    predicted = Predictor(load_model(model_path), precision="float32").predict(read_conllu(gold))
    return "".join(sentence.to_conllu() for sentence in predicted)


def test_end_of_training_and_tagger_eval_give_the_hand_counted_scores(tiny_model):
    gold = _word_rows(SAMPLE_DEV.read_text())
    assert len(gold) == 2319  # of its 2354 ID lines, 34 are multiword ranges and one (8.1) an empty node
    expected = _hand_counted(gold, _word_rows(_predicted_conllu(tiny_model, SAMPLE_DEV)))
    assert all(0 < value < 100 for value in expected.values())  # a tiny model: right and wrong words in every column
    recorded = json.loads((tiny_model.parent / "scores.json").read_text())["dev"]
    assert recorded == pytest.approx(expected, abs=1e-9)
    assert evaluate_file(load_model(tiny_model), SAMPLE_DEV).scores == pytest.approx(expected, abs=1e-9)


def test_scores_on_a_gold_file_with_known_differences_from_the_prediction(tiny_model, tmp_path):
    """Gold = the model's own prediction with a few cells changed by hand: the percentages are known exactly."""
    lines = _predicted_conllu(tiny_model, SAMPLE_DEV).splitlines()
    words = [i for i, line in enumerate(lines) if line and not line.startswith("#") and line.split("\t")[0].isdigit()]
    reordered = next(i for i in words[20:] if lines[i].split("\t")[5].count("|") >= 1)
    featured = next(i for i in words[12:20] if lines[i].split("\t")[5] != "_")  # predicted with universal features
    extended = words[13] if featured != words[13] else words[14]
    edits = {  # word index -> (column, new gold value); 3 = UPOS, 4 = XPOS, 5 = FEATS, 2 = LEMMA
        **{words[k]: (3, "GOLD-ONLY") for k in (0, 1, 2)},  # UPOS and AllTags wrong
        **{words[k]: (4, "GOLD-ONLY") for k in (3, 4)},  # XPOS and AllTags wrong
        featured: (5, "Gold=Only"),  # the predicted universal features are not gold's: UFeats, Feats, AllTags wrong
        extended: (5, "|".join(f for f in [lines[extended].split("\t")[5], "Style=Gold"] if f != "_")),  # Feats wrong only
        **{words[k]: (2, "_") for k in (6, 7, 8, 9)},  # no gold lemma: right whatever is predicted
        **{words[k]: (2, "gold-only") for k in (10, 11)},  # lemma wrong
        reordered: (5, "|".join(reversed(lines[reordered].split("\t")[5].split("|")))),  # same features: right
    }
    for i, (column, value) in edits.items():
        row = lines[i].split("\t")
        row[column] = value
        lines[i] = "\t".join(row)
    path = tmp_path / "gold.conllu"
    path.write_text("\n".join(lines) + "\n")
    n = 2319
    assert evaluate_file(load_model(tiny_model), path).scores == pytest.approx({
        "UPOS": 100 * (n - 3) / n, "XPOS": 100 * (n - 2) / n, "UFeats": 100 * (n - 1) / n, "Feats": 100 * (n - 2) / n,
        "AllTags": 100 * (n - 6) / n, "Lemmas": 100 * (n - 2) / n}, abs=1e-9)


def test_configs_saved_by_earlier_versions_get_the_values_they_were_built_with():
    saved = OmegaConf.create({"model": {"word_dim": 8}, "data": {"name": "en_ewt", "format": "uner"}})
    today = OmegaConf.create({"segmenter": {"learn": "auto", "network": {"layers": 1}}})
    migrated = _with_legacy_keys(saved, today)
    assert migrated.model.max_word_chars == 32 and migrated.data.scheme == "auto" and migrated.data.fields is None
    assert migrated.data.format == "uner"  # what the run saved wins
    assert migrated.segmenter.learn is False and migrated.segmenter.network.layers == 1  # rules, as the run had

    # a run saved with a segmenter section from before text-end windows: learned without them
    saved = OmegaConf.create({"segmenter": {"learn": "auto", "training": {"steps": 10}}})
    today = OmegaConf.create({"segmenter": {"learn": "auto", "training": {"steps": 8000, "text_ends": 0.25}}})
    migrated = _with_legacy_keys(saved, today)
    assert migrated.segmenter.training.text_ends == 0.0 and migrated.segmenter.training.steps == 10
