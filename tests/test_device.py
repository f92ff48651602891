"""Inference on a device: the choice resolved, missing GPUs refused in one line, everything a batch needs in one place.

CI has no GPU: what depends on one is checked with torch.cuda's answers replaced, and the
arithmetic itself by `scripts/gpu_check.py` on a GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from tagger.device import resolve_device
from tagger.errors import TaggerError
from tagger.inference.tagger import Tagger
from tagger.inference.workers import worker_devices
from tagger.model.model_file import load_model, save_model
from tagger.prediction import fast_inference
from tagger.prediction.predictor import Predictor
from training_runs import REPO

NO_GPU = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
SENTENCES = [["The", "cat", "sat", "on", "the", "mat", "."], ["Dogs", "bark", "."]]


@pytest.fixture
def gpus(monkeypatch):
    """torch.cuda answering as if `count` GPUs were there (nothing is run on them)."""

    def visible(count: int, bf16: bool = True, capability: tuple[int, int] = (9, 0)) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Test GPU")

    return visible


def test_device_names_resolve(gpus):
    assert resolve_device("cpu") == torch.device("cpu")
    gpus(0)
    assert resolve_device("auto") == torch.device("cpu")  # no GPU: auto falls back to the CPU
    gpus(2)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_a_device_that_is_not_there_is_one_line(gpus):
    gpus(0)
    with pytest.raises(TaggerError, match=r"^device=cuda: no CUDA device is available$"):
        resolve_device("cuda")
    gpus(2)
    with pytest.raises(TaggerError, match=r"^--device cuda:2: no such CUDA device \(2 visible: cuda:0 to cuda:1\)$"):
        resolve_device("cuda:2", option="--device ")
    with pytest.raises(TaggerError, match=r"^device=tpu: unknown device; use auto, cpu, cuda, cuda:N$"):
        resolve_device("tpu")


@pytest.mark.parametrize("command", [["tag", "--device", "cuda", "A sentence."], ["eval", "en_ewt", "gold.conllu", "--device", "cuda"]])
def test_cli_refuses_a_missing_cuda_device_in_one_line(command):
    result = subprocess.run([sys.executable, "-m", "tagger.cli", *command], cwd=REPO, env=NO_GPU,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"tagger {command[0]}: error: --device cuda: no CUDA device is available\n"


def test_gpu_precision_auto_is_bfloat16_where_the_gpu_has_it(gpus):
    cuda = torch.device("cuda", 0)
    gpus(1, bf16=True)
    assert fast_inference.resolve_precision("auto", cuda) == torch.bfloat16
    gpus(1, bf16=False)
    assert fast_inference.resolve_precision("auto", cuda) == torch.float32
    with pytest.raises(TaggerError, match="precision bfloat16: Test GPU has no bfloat16; use float32"):
        fast_inference.resolve_precision("bfloat16", cuda)
    assert fast_inference.resolve_precision("float32", cuda) == torch.float32


def test_tagger_on_the_cpu_tags_as_the_default(tiny_model, gpus):
    gpus(0)
    default, on_cpu = Tagger.load(tiny_model, precision="float32"), Tagger.load(tiny_model, precision="float32", device="cpu")
    assert default.device == on_cpu.device == torch.device("cpu")  # auto without a GPU
    assert default.tag(SENTENCES).to_conllu() == on_cpu.tag(SENTENCES).to_conllu()
    assert default.network is default.bundle.network  # float32 on the CPU: the trained network itself, not a copy


def test_everything_a_batch_needs_lives_on_the_predictors_device(tiny_model):
    predictor = Predictor(load_model(tiny_model), precision="float32", device="cpu")
    assert predictor.batch_tokens == 4096  # the CPU's batches, as before devices
    tensors = [*predictor.network.parameters(), predictor.cache.table]
    tensors += [decoder.min_lengths for decoder in predictor.lemma_decoders.values()]
    assert predictor.lemma_decoders and all(tensor.device.type == "cpu" for tensor in tensors)


def test_workers_on_gpus_get_one_card_each_or_one_line(gpus):
    assert worker_devices("cpu", torch.device("cpu"), 4) is None  # CPU workers share the cores, as before
    gpus(2)
    assert worker_devices("auto", torch.device("cuda", 0), 2) == ["cuda:0", "cuda:1"]
    with pytest.raises(TaggerError, match=r"^--workers 3 --device cuda: one worker per GPU, and 2 visible; use --workers 2"):
        worker_devices("cuda", torch.device("cuda", 0), 3)
    with pytest.raises(TaggerError, match=r"^--workers 2 --device cuda:1: one worker per GPU, and cuda:1 is one GPU"):
        worker_devices("cuda:1", torch.device("cuda", 1), 2)


def test_a_model_file_written_after_a_device_round_trip_loads_on_the_cpu_and_tags_the_same(tiny_model, tmp_path):
    bundle = load_model(tiny_model)
    network = bundle.network.to("cpu")  # where Lightning leaves a GPU-trained module; save_model moves every tensor there
    saved = save_model(tmp_path / "moved.safetensors", network, bundle.vocabs, bundle.provenance)
    assert {tensor.device.type for tensor in load_file(str(saved)).values()} == {"cpu"}
    again = Tagger(load_model(saved), precision="float32", device="cpu")
    assert again.tag(SENTENCES).to_conllu() == Tagger(load_model(tiny_model), precision="float32", device="cpu").tag(SENTENCES).to_conllu()
