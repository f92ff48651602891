"""Training phases on the trainer's accelerator: GPU configs checked up front, and a trained tagger never lost.

CI has no GPU: `trainer=gpu` is checked against torch.cuda's answers, and the phases run on the CPU.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import pytorch_lightning as pl
import torch

from conftest import compose_config
from tagger.errors import TaggerError
from tagger.model.model_file import load_model
from tagger.training import train as train_module
from tagger.training.accelerator import check_accelerator
from tagger.training.config_schema import validate_config
from training_runs import ENV, REPO, train_command


def test_trainer_gpu_without_a_gpu_is_one_line_before_anything_is_built(tmp_path):
    run_dir = tmp_path / "run"
    result = subprocess.run(train_command(run_dir, "trainer=gpu"), cwd=REPO, env={**ENV, "CUDA_VISIBLE_DEVICES": ""},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "tagger train: error: trainer.accelerator=gpu: no CUDA GPU is available (trainer=gpu needs one; "
        "without it the run trains on the CPU)"
    ]
    assert not run_dir.exists()  # nothing was built, and the run directory Hydra made is gone


def test_a_segmenter_window_without_a_centre_is_refused_naming_the_key(tmp_path):
    cfg = compose_config(tmp_path, ["segmenter.network.window=64", "segmenter.network.context=32"])
    with pytest.raises(TaggerError) as error:
        validate_config(cfg)
    assert str(error.value) == ("segmenter.network.window=64: expected more than twice segmenter.network.context (32), "
                                "the characters read only as context on each side")
    validate_config(compose_config(tmp_path, ["segmenter.network.window=65", "segmenter.network.context=32"]))


def test_a_gpu_without_bfloat16_trains_in_float16_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    trainer = validate_config(compose_config(tmp_path, ["trainer=gpu"])).trainer
    with caplog.at_level(logging.WARNING):
        check_accelerator(trainer)
    assert trainer.precision == "16-mixed"
    assert "trainer.precision=bf16-mixed: Tesla T4 has no bfloat16; training in 16-mixed instead" in caplog.text
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (6, 1))  # no tensor cores
    trainer = validate_config(compose_config(tmp_path, ["trainer=gpu"])).trainer
    check_accelerator(trainer)
    assert trainer.precision == "32-true"
    trainer = validate_config(compose_config(tmp_path, ["trainer=gpu", "trainer.devices=2"])).trainer
    with pytest.raises(TaggerError, match=r"^trainer.devices=2: only 1 CUDA GPU\(s\) visible$"):
        check_accelerator(trainer)


SEGMENTER_RUN = ["trainer.max_epochs=1", "segmenter.learn=true", "segmenter.training.max_steps=20",
                 "segmenter.training.eval_every=10"]


@pytest.mark.slow
def test_the_tagger_survives_a_failed_segmenter_phase_and_resume_goes_straight_to_the_segmenter(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    devices = []
    fit_tagger = train_module.fit_tagger

    def fit_as_if_on_a_second_gpu(config, cfg, objects, checkpoint):
        """The tagger phase, after which the trainer's strategy says it ran on cuda:1 (CI has no GPU)."""
        fitted = fit_tagger(config, cfg, objects, checkpoint)
        monkeypatch.setattr(type(objects.trainer.strategy), "root_device", property(lambda _: torch.device("cuda", 1)))
        return fitted

    def interrupted(*args, device, **kwargs):
        devices.append(device)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "fit_tagger", fit_as_if_on_a_second_gpu)
    monkeypatch.setattr(train_module, "train_segmenter", interrupted)
    with pytest.raises(KeyboardInterrupt, match=rf"^interrupted in the segmenter phase: the tagger is saved, without a "
                                                rf"segmenter, in {run_dir}/model.safetensors; `tagger train resume={run_dir}` learns it$"):
        train_module.train(compose_config(run_dir, SEGMENTER_RUN))
    assert devices == [torch.device("cuda", 1)]  # where the tagger phase ran, not the CPU the test runs on
    tagger_only = load_model(run_dir / "model.safetensors")
    assert tagger_only.segmenter is None and tagger_only.provenance["tagger_steps"] > 0

    def no_second_fit(*args, **kwargs):
        raise AssertionError("the tagger phase ran again")

    monkeypatch.setattr(pl.Trainer, "fit", no_second_fit)
    monkeypatch.setattr(train_module, "train_segmenter", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("out of memory\ndetails")))
    with pytest.raises(TaggerError, match=r"^the segmenter phase failed \(RuntimeError: out of memory\): the tagger is saved"):
        train_module.train(compose_config(tmp_path / "elsewhere", [f"resume={run_dir}"]))
    assert load_model(run_dir / "model.safetensors").segmenter is None

    monkeypatch.undo()
    monkeypatch.setattr(pl.Trainer, "fit", no_second_fit)
    scores = train_module.train(compose_config(tmp_path / "elsewhere", [f"resume={run_dir}"]))
    final = load_model(run_dir / "model.safetensors")
    assert final.segmenter is not None and scores["train_seconds"] == 0.0 and scores["segmenter_seconds"] > 0
    assert all(torch.equal(final.network.state_dict()[name], tensor) for name, tensor in tagger_only.network.state_dict().items())
