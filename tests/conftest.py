"""Shared fixtures: configs composed like `tagger train` does, and one tiny trained model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

DATA = Path(__file__).parent / "data"
SAMPLES = Path(__file__).resolve().parent.parent / "tagger" / "samples"  # shipped with the package
SAMPLE_TRAIN = SAMPLES / "en_sample_train.conllu"
SAMPLE_DEV = SAMPLES / "en_sample_dev.conllu"

# Small enough to train in seconds on 2 CPU cores, big enough to learn the sample.
TINY_MODEL = [
    "model.word_dim=48",
    "model.cle.char_dim=24",
    "model.cle.hidden_size=32",
    "model.encoder.hidden_size=48",
    "model.dropout=0.2",
    "segmenter.learn=false",  # raw text by the rules: the segmenter has tests of its own
]

torch.set_num_threads(1)

# Fixtures that train a model (a tagger with Lightning, or a segmenter): every test that uses one, directly or
# through another fixture, is marked slow below, so `pytest -m "not slow"` trains nothing. A mark on a fixture
# itself does nothing; tests that run `tagger train` themselves carry @pytest.mark.slow.
TRAINING_FIXTURES = {
    "tiny_model",  # here
    "ner_run",  # test_ner_training.py
    "segmenting_model",  # test_segmenter_pipeline.py
    "trained",  # test_segmenter.py: a segmenter, 300 steps
    "reference_run",  # test_interruption.py
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):  # the closure: fixtures of fixtures too
            item.add_marker(pytest.mark.slow)


def compose_config(run_dir: Path, overrides: list[str] = ()) -> DictConfig:
    """The training config for the carried sample, as `tagger train data=sample ...` composes it."""
    with initialize_config_module("tagger.conf", version_base="1.3"):
        return compose(
            "train",
            overrides=[
                "data=sample",
                f"data.train={SAMPLE_TRAIN}",
                f"data.dev={SAMPLE_DEV}",
                f"data.test={SAMPLE_DEV}",
                f"run_dir={run_dir}",
                "threads=1",
                "trainer.enable_progress_bar=false",
                "~callbacks.progress_bar",
                "trainer.enable_model_summary=false",
                "schedule.warmup_steps=10",
                *TINY_MODEL,
                *overrides,
            ],
        )


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A model file trained for a few epochs on the sample (shared by every test that needs one)."""
    from tagger.training.train import train

    run_dir = tmp_path_factory.mktemp("tiny_run")
    cfg = compose_config(run_dir, ["trainer.max_epochs=12", "optimizer.lr=5e-3"])
    train(cfg)
    return run_dir / "model.safetensors"
