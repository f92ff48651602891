"""Every data, model and trainer config composes into something the config schema accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from tagger.errors import TaggerError
from tagger.training.config_schema import validate_config

CONF = Path(__file__).resolve().parent.parent / "conf"


def _options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF / group).glob("*.yaml"))


def _compose(overrides: list[str]):
    with initialize_config_module("tagger.conf", version_base="1.3"):
        return compose("train", overrides=overrides)


@pytest.mark.parametrize("data", _options("data"))
@pytest.mark.parametrize("cle", _options("model/cle"))
def test_every_data_and_encoder_config_composes_and_passes_the_schema(data, cle, tmp_path):
    files = ["data.train=my/train.conllu", "data.dev=my/dev.conllu"] if data == "custom" else []
    cfg = _compose([f"data={data}", f"model/cle={cle}", f"run_dir={tmp_path}", *files])
    config = validate_config(cfg)
    assert config.model.cle.type == cle
    assert config.data.train and config.data.columns
    assert cfg.callbacks.model_checkpoint.dirpath == f"{tmp_path}/checkpoints"


@pytest.mark.parametrize("trainer", _options("trainer"))
def test_every_trainer_config_composes(trainer, tmp_path):
    config = validate_config(_compose(["data=sample", f"trainer={trainer}", f"run_dir={tmp_path}"]))
    assert config.trainer.max_epochs > 0


def test_corpus_configs_hold_only_what_differs_from_their_format_base():
    for path in (CONF / "data").glob("*.yaml"):
        keys = {line.split(":")[0] for line in path.read_text().splitlines() if line and line[0].isalpha()}
        assert keys <= {"defaults", "name", "language", "train", "dev", "test", "scheme", "min_word_freq", "max_tokens",
                        "eval_max_tokens"}, path.name


def test_custom_data_inherits_nothing_from_a_corpus(tmp_path):
    cfg = _compose([f"run_dir={tmp_path}", "data.train=my/train.conllu", "data.dev=my/dev.conllu"])
    config = validate_config(cfg)
    assert (config.data.name, config.data.language, config.data.test) == ("custom", None, None)
    with pytest.raises(TaggerError, match="data.train is not set"):
        validate_config(_compose([f"run_dir={tmp_path}"]))


def test_the_sample_has_no_test_split_rather_than_its_dev_file_posing_as_one(tmp_path):
    config = validate_config(_compose(["data=sample", f"run_dir={tmp_path}"]))
    assert config.data.test is None and config.data.dev.endswith("en_sample_dev.conllu")


def test_the_documented_commands_name_corpus_files_by_tagger_data_dir_so_they_work_from_any_clone():
    pages = [CONF.parent / "README.md", *sorted((CONF.parent / "docs").glob("*.md"))]
    text = "\n".join(page.read_text() for page in pages)
    commands = [line for line in text.splitlines() if line.lstrip().startswith("tagger ") or "`tagger eval" in line]
    assert not [line for line in commands if "../shared/data/" in line]
    assert "$TAGGER_DATA_DIR/ud/en_ewt/test.conllu" in text and "export TAGGER_DATA_DIR=" in text
