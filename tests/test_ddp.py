"""Scale-out is Lightning's DDP: two CPU processes (gloo) train one model and export it once."""

from __future__ import annotations

import csv

import pytest

from conftest import SAMPLE_DEV
from tagger.data.conllu_io import read_conllu
from tagger.inference.tagger import Tagger
from tagger.model.model_file import load_model
from training_runs import dev_scores, run, train_command


@pytest.mark.slow
def test_two_cpu_processes_with_ddp_train_and_export_a_working_model(tmp_path):
    run_dir = tmp_path / "run"
    result = run(train_command(run_dir, "trainer.max_epochs=1", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"))

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "Starting with 2 processes" in result.stderr + result.stdout
    predicted = Tagger(load_model(run_dir / "model.safetensors")).predict(read_conllu(SAMPLE_DEV))
    assert all(tag != "_" for sentence in predicted for tag in sentence.column("upos"))
    # the dev metric logged in training sums both ranks' counts (all_gather), each dev sentence once:
    # it equals what the exported (best, and only) epoch scores on the whole dev file
    with open(run_dir / "logs" / "metrics.csv") as stream:
        logged = [float(row["dev/upos"]) for row in csv.DictReader(stream) if row["dev/upos"]]
    assert logged == [pytest.approx(dev_scores(run_dir)["UPOS"], abs=0.01)]
