"""`tagger train` and `tagger eval` as a user runs them: in a subprocess, from the shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLE_DEV, SAMPLE_TRAIN, TINY_MODEL

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def tagger(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tagger.cli", *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_train_then_eval_from_the_command_line(tmp_path):
    run_dir = tmp_path / "run"
    result = tagger(
        "train", "data=sample", f"data.train={SAMPLE_TRAIN}", f"data.dev={SAMPLE_DEV}", f"data.test={SAMPLE_DEV}",
        "model/cle=cnn", "model.cle.filters=8", "trainer.max_epochs=2", "threads=1", f"hydra.run.dir={run_dir}",
        *TINY_MODEL[:1], *TINY_MODEL[3:],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    model = run_dir / "model.safetensors"
    assert model.is_file() and (run_dir / ".hydra" / "config.yaml").is_file()

    output = tmp_path / "pred.conllu"
    result = tagger("eval", str(model), str(SAMPLE_DEV), "--output", str(output), "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert set(scores) == {"UPOS", "XPOS", "UFeats", "Feats", "AllTags", "Lemmas"}
    assert output.read_text().count("\n1\t") == SAMPLE_DEV.read_text().count("\n1\t")

    again = tagger("eval", str(model), str(SAMPLE_DEV), "--output", str(output))
    assert again.returncode != 0 and "--force" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.slow
def test_multirun_sweeps_over_overrides(tmp_path):
    result = tagger(
        "train", "-m", "data=sample", f"data.train={SAMPLE_TRAIN}", f"data.dev={SAMPLE_DEV}", "data.test=null",
        "trainer.max_epochs=1", "threads=1", "model.encoder.layers=1,2", f"hydra.sweep.dir={tmp_path}",
        "model.word_dim=16", "model.cle.hidden_size=8", "model.encoder.hidden_size=8", "segmenter.learn=false",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "0" / "model.safetensors").is_file() and (tmp_path / "1" / "model.safetensors").is_file()


def test_malformed_conllu_ends_with_one_line_naming_file_and_line(tmp_path, tiny_model):
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tHello\t_\n")
    result = tagger("eval", str(tiny_model), str(bad))
    assert result.returncode == 2
    assert result.stderr.strip() == f"tagger eval: error: {bad}:1: expected 10 tab-separated columns, found 3"


def test_unknown_config_key_is_named(tmp_path):
    result = tagger("train", "data=sample", "trainer.no_such_option=1", f"hydra.run.dir={tmp_path}")
    assert result.returncode != 0
    assert "no_such_option" in result.stderr and "Traceback" not in result.stderr
