"""The shared core: one package layout, one evaluate path, encoding constants that travel in the model file."""

from __future__ import annotations

import json
import re
from pathlib import Path

from omegaconf import OmegaConf
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conftest import SAMPLE_DEV
from tagger.evaluation.evaluate import evaluate_file
from tagger.model.model_file import load_model
from tagger.training.run_dir import _with_legacy_keys

PACKAGE = Path(__file__).resolve().parent.parent / "tagger"


def _imports(package: str) -> set[str]:
    found = set()
    for path in (PACKAGE / package).rglob("*.py"):
        found.update(re.findall(r"^\s*(?:from|import) tagger\.(\w+)", path.read_text(), re.M))
    return found - {package}


# Each package and the packages it may import (shared leaves: errors, atomic_file, device).
LAYERS = {
    "data": set(),
    "model": {"data"},
    "segmentation": {"data", "model"},
    "prediction": {"data", "model"},
    "evaluation": {"data", "model", "prediction"},
    "training": {"data", "model", "segmentation", "prediction", "evaluation"},
    "inference": {"data", "model", "segmentation", "prediction", "evaluation"},
    "packaging": {"data", "model", "inference", "evaluation"},
}
LEAVES = {"errors", "atomic_file", "device"}


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


def test_end_of_training_and_tagger_eval_score_through_one_path(tiny_model):
    recorded = json.loads((tiny_model.parent / "scores.json").read_text())["dev"]
    assert evaluate_file(load_model(tiny_model), SAMPLE_DEV).scores == recorded


def test_configs_saved_by_earlier_versions_get_the_values_they_were_built_with():
    saved = OmegaConf.create({"model": {"word_dim": 8}, "data": {"name": "en_ewt", "format": "uner"}})
    today = OmegaConf.create({"segmenter": {"learn": "auto", "network": {"layers": 1}}})
    migrated = _with_legacy_keys(saved, today)
    assert migrated.model.max_word_chars == 32 and migrated.data.scheme == "auto" and migrated.data.fields is None
    assert migrated.data.format == "uner"  # what the run saved wins
    assert migrated.segmenter.learn is False and migrated.segmenter.network.layers == 1  # rules, as the run had
