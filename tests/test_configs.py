"""Every data, model and trainer config composes into something the training code accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

CONF = Path(__file__).resolve().parent.parent / "conf"


def _options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("data", _options("data"))
@pytest.mark.parametrize("cle", _options("model/cle"))
def test_every_data_and_encoder_config_composes(data, cle, tmp_path):
    with initialize_config_module("tagger.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"data={data}", f"model/cle={cle}", f"run_dir={tmp_path}"])
    assert cfg.model.cle.type == cle
    assert cfg.data.train and cfg.data.columns
    assert cfg.callbacks.model_checkpoint.dirpath == f"{tmp_path}/checkpoints"


@pytest.mark.parametrize("trainer", _options("trainer"))
def test_every_trainer_config_composes(trainer, tmp_path):
    with initialize_config_module("tagger.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"trainer={trainer}", f"run_dir={tmp_path}"])
    assert cfg.trainer.max_epochs > 0
