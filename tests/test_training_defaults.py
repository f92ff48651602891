"""What a new user trips over in training (issue 30): NER corpora train without `experiment=ner`, the
metrics shown are the ones that matter, runs print no Lightning notices, a run plots its curves, a
learned segmenter is kept only where it beats the rules, and its phase runs on one thread by default."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from conftest import DATA, SAMPLE_DEV, SAMPLE_TRAIN, TINY_MODEL, compose_config
from tagger import Tagger
from tagger.cli import main as cli_main
from tagger.errors import TaggerError
from tagger.model.model_file import load_model
from tagger.training import train as train_module
from training_runs import ENV, REPO, TINY_RUN, run, train_command

UNER_TRAIN = DATA / "uner_pt_sample_train.iob2"
UNER_DEV = DATA / "uner_pt_sample_dev.iob2"
CONF = REPO / "conf"
NER_CORPORA = sorted(path.stem for path in (CONF / "data").glob("*.yaml")
                     if "base/uner@" in path.read_text() or "base/columns@" in path.read_text())
TINY = [argument for argument in TINY_RUN if not argument.startswith("data")]  # the model and run settings alone


def _resolved(overrides: list[str]) -> dict:
    with initialize_config_module("tagger.conf", version_base="1.3"):
        return OmegaConf.to_container(compose("train", overrides=[*overrides, "run_dir=RUN", "data_dir=DATA"]), resolve=True)


# -- NER corpora bring their NER settings (item 3) ------------------------------------------------


def test_a_ner_corpus_config_brings_the_settings_of_experiment_ner():
    assert len(NER_CORPORA) == 8
    for name in NER_CORPORA:
        alone = _resolved([f"data={name}"])
        assert alone == _resolved([f"data={name}", "experiment=ner"]), name
        assert alone["monitor"] == "dev/ner_f1" and alone["callbacks"]["early_stopping"]["monitor"] == "dev/ner_f1"
    ud = _resolved(["data=en_ewt"])
    assert (ud["monitor"], ud["trainer"]["max_epochs"], ud["callbacks"]["early_stopping"]["patience"]) == ("dev/upos", 50, 15)


@pytest.fixture(scope="module")
def ner_cli_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`tagger train data=uner_pt_bosque` on the UNER sample, one epoch, no experiment=ner, the progress bar on."""
    run_dir = tmp_path_factory.mktemp("ner_cli") / "run"
    tiny = [argument for argument in TINY if "progress_bar" not in argument]
    result = run([sys.executable, "-m", "tagger.cli", "train", "data=uner_pt_bosque", f"data.train={UNER_TRAIN}",
                  f"data.dev={UNER_DEV}", "data.test=null", "data.max_tokens=150", "trainer.max_epochs=1", *tiny,
                  f"hydra.run.dir={run_dir}"])
    return run_dir, result


@pytest.mark.slow
def test_a_ner_corpus_trains_and_selects_on_span_f1_without_experiment_ner(ner_cli_run):
    run_dir, result = ner_cli_run
    assert result.returncode == 0, result.stderr[-3000:]
    assert list(load_model(run_dir / "model.safetensors").provenance["best_dev"]) == ["dev/ner_f1"]


@pytest.mark.slow
def test_the_ner_progress_bar_shows_the_span_f1_that_selects_not_token_accuracy(ner_cli_run):
    run_dir, result = ner_cli_run
    assert result.returncode == 0, result.stderr[-3000:]
    bar = result.stdout  # where Lightning's progress bar goes
    assert "dev/ner_f1=" in bar
    assert "dev/misc:NER=" not in bar and "dev/ner_precision=" not in bar


def test_a_monitor_the_run_does_not_log_is_one_line_before_training(tmp_path):
    run_dir = tmp_path / "run"
    result = run([sys.executable, "-m", "tagger.cli", "train", "data.format=uner", "data.columns=[misc:NER]",
                  f"data.train={UNER_TRAIN}", f"data.dev={UNER_DEV}", *TINY, f"hydra.run.dir={run_dir}"])
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "tagger train: error: monitor=dev/upos: this run logs no such dev metric (it logs dev/misc:NER, "
        "dev/ner_precision, dev/ner_recall, dev/ner_f1); entity data selects on span F1: experiment=ner "
        "(or monitor=dev/ner_f1)"
    ]
    assert not run_dir.exists()  # nothing trained, nothing left


# -- metrics that mean something (item 6) ---------------------------------------------------------


@pytest.mark.slow
def test_a_column_blank_throughout_train_is_neither_learned_nor_scored(tmp_path, caplog):
    """XPOS `_` everywhere (fr_sequoia, tr_atis): no head that learns to say `_`, no dev/xpos of 100."""
    files = {}
    for split, source in (("train", SAMPLE_TRAIN), ("dev", SAMPLE_DEV)):
        lines = [line.split("\t") for line in source.read_text(encoding="utf-8").splitlines()]
        blanked = ["\t".join(fields[:4] + ["_"] + fields[5:]) if len(fields) == 10 else "\t".join(fields) for fields in lines]
        files[split] = tmp_path / f"{split}.conllu"
        files[split].write_text("\n".join(blanked) + "\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        train_module.train(compose_config(run_dir, [f"data.train={files['train']}", f"data.dev={files['dev']}",
                                                    f"data.test={files['dev']}", "trainer.max_epochs=1"]))
    assert f"data.columns: xpos `_` throughout {files['train']}: not learned" in caplog.text
    header = next(csv.reader((run_dir / "logs" / "metrics.csv").open()))
    assert "dev/xpos" not in header and {"dev/upos", "dev/feats", "dev/lemma", "dev/alltags"} <= set(header)
    assert load_model(run_dir / "model.safetensors").columns == ["upos", "feats", "lemma"]


# -- no Lightning notices; the curves (item 11 and the plot) --------------------------------------


@pytest.fixture(scope="module")
def tiny_cli_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    run_dir = tmp_path_factory.mktemp("tiny_cli") / "run"
    return run_dir, run(train_command(run_dir, "trainer.max_epochs=1"))


NOTICES = ("Tip:", "LeafSpec", "log_every_n_steps", "exists and is not empty", "Warning")


@pytest.mark.slow
def test_a_run_prints_none_of_lightnings_notices(tiny_cli_run):
    _, result = tiny_cli_run
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "dev scores: UPOS" in output  # what the run does say
    assert [notice for notice in NOTICES if notice in output] == []


@pytest.mark.slow
def test_resuming_does_not_warn_that_the_checkpoint_directory_exists(tiny_cli_run, tmp_path):
    first, _ = tiny_cli_run
    run_dir = shutil.copytree(first, tmp_path / "run")
    (run_dir / "config.yaml").write_text((run_dir / "config.yaml").read_text().replace(str(first), str(run_dir)))
    result = run([sys.executable, "-m", "tagger.cli", "train", f"resume={run_dir}", "trainer.max_epochs=2",
                  f"hydra.run.dir={tmp_path / 'resumed'}"])
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "resuming" in output and [notice for notice in NOTICES if notice in output] == []
    curves = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["callbacks"]["TrainingCurves"]
    assert [epoch["epoch"] for epoch in curves["epochs"]] == [1, 2]  # the resumed run's plot has the first epoch too


@pytest.mark.slow
def test_a_run_plots_its_curves_into_the_run_directory(tiny_cli_run):
    from matplotlib.image import imread

    run_dir, result = tiny_cli_run
    assert result.returncode == 0, result.stderr[-3000:]
    png = run_dir / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = imread(png).shape
    assert (width, height) == (700, 900)
    logged = [row for row in csv.DictReader((run_dir / "logs" / "metrics.csv").open()) if row.get("train/loss_epoch")]
    curves = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["callbacks"]["TrainingCurves"]
    assert [epoch["loss"] for epoch in curves["epochs"]] == [pytest.approx(float(row["train/loss_epoch"])) for row in logged]


def test_dry_run_says_what_it_would_do_and_no_minutes(tmp_path):
    data = tmp_path / "data"
    (data / "ud" / "en_ewt").mkdir(parents=True)
    for split, source in (("train", SAMPLE_TRAIN), ("dev", SAMPLE_DEV), ("test", SAMPLE_DEV)):
        shutil.copy(source, data / "ud" / "en_ewt" / f"{split}.conllu")
    result = subprocess.run([sys.executable, "scripts/build_models.py", "--dry-run", "--data-dir", str(data),
                             "--output-dir", str(tmp_path / "out")], cwd=REPO, env=ENV, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == {"en_ewt": "train"}
    assert result.stderr.splitlines()[-1].endswith("build_models: en_ewt: train")
    assert "minutes" not in result.stderr and not (tmp_path / "out").exists()


def test_the_plot_is_not_part_of_a_builds_recipe(tmp_path):
    """A change of what a run shows (its plot, like its progress bar) rebuilds no model."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import build_models
    finally:
        sys.path.remove(str(REPO / "scripts"))
    corpus = build_models.Corpus("en_ewt", tmp_path, ner=False)
    plain = build_models.recipe(corpus, argparse.Namespace(overrides=[], version="0.1.0"))
    assert plain == build_models.recipe(corpus, argparse.Namespace(overrides=["~callbacks.training_curves"], version="0.1.0"))
    assert plain != build_models.recipe(corpus, argparse.Namespace(overrides=["seed=1"], version="0.1.0"))


# -- the learned segmenter: kept where it beats the rules (item 2), on one thread (item 5) ---------

BAD_SEGMENTER = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "segmenter.training.max_steps=10",
                 "segmenter.training.eval_every=10"]


@pytest.mark.slow
def test_a_segmenter_worse_than_the_rules_is_not_kept_and_both_figures_are_recorded(tmp_path, capsys, caplog):
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        scores = train_module.train(compose_config(run_dir, ["segmenter.learn=auto", *BAD_SEGMENTER]))
    bundle = load_model(run_dir / "model.safetensors")
    assert bundle.segmenter is None and Tagger(bundle).tokenizer_kind == "rules"
    figures = bundle.provenance["segmenter_dev"]
    assert figures["tokenizer"] == "rules" and scores["segmenter_dev"] == figures
    capsys.readouterr()
    assert cli_main(["eval", str(run_dir / "model.safetensors"), str(SAMPLE_DEV), "--raw", "--json", "--tokenizer", "rules"]) == 0
    rules = json.loads(capsys.readouterr().out)
    assert figures["rules"] == {name: round(rules[name], 2) for name in ("Tokens", "Sentences", "Words")}
    learned = figures["learned"]
    assert learned["step"] == 10 and learned["Tokens"] + learned["Sentences"] + learned["Words"] < sum(figures["rules"].values())
    assert "the learned segmenter does worse than the rule tokenizer" in caplog.text and "not kept" in caplog.text


@pytest.mark.slow
def test_segmenter_learn_true_keeps_even_a_segmenter_worse_than_the_rules(tmp_path, caplog):
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        train_module.train(compose_config(run_dir, ["segmenter.learn=true", *BAD_SEGMENTER]))
    bundle = load_model(run_dir / "model.safetensors")
    assert bundle.segmenter is not None and Tagger(bundle).tokenizer_kind == "learned"
    assert bundle.provenance["segmenter_dev"]["tokenizer"] == "learned"
    assert "kept, as segmenter.learn=true asks" in caplog.text


@pytest.mark.parametrize(("threads", "expected"), [("null", 1), ("3", 3)])
def test_the_segmenter_phase_runs_on_one_thread_unless_threads_says_otherwise(tmp_path, monkeypatch, threads, expected):
    seen = []

    def record(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise RuntimeError("recorded")

    def no_fit(*args, **kwargs):  # the tagger phase is not what this test is about
        return None

    monkeypatch.setattr(train_module, "train_segmenter", record)
    monkeypatch.setattr(train_module.pl.Trainer, "fit", no_fit)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # what `threads=null` leaves the process with: here, two
    try:
        with pytest.raises(TaggerError, match="the segmenter phase failed"):
            train_module.train(compose_config(tmp_path / "run", ["segmenter.learn=true", f"threads={threads}"]))
        assert seen == [expected]
        assert torch.get_num_threads() == (2 if threads == "null" else 3)  # the process's own count, given back
    finally:
        torch.set_num_threads(before)
