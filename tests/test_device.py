"""Inference on a device: the choice resolved, missing GPUs refused in one line, everything a batch needs in one place.

CI has no GPU: what depends on one is checked with torch.cuda's answers replaced, where tensors
go with torch's meta device (shapes without data, so a tensor left on the CPU shows), and the
arithmetic itself by `scripts/gpu_check.py` on a GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
import torch
from safetensors.torch import load_file

from conftest import SAMPLE_DEV
from tagger.cli import main
from tagger.data.conllu_io import Sentence
from tagger.device import resolve_device
from tagger.errors import TaggerError
from tagger.inference import workers
from tagger.inference.tagger import Tagger
from tagger.inference.workers import worker_devices
from tagger.model.model_file import load_model, save_model
from tagger.prediction import predictor as predictor_module
from tagger.prediction.precision import Precision
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


@pytest.fixture
def elsewhere(monkeypatch):
    """Predictors asked for device "elsewhere" are built for torch's meta device; other names resolve as ever."""
    monkeypatch.setattr(predictor_module, "resolve_device",
                        lambda device: torch.device("meta") if device == "elsewhere" else resolve_device(device))
    return torch.device("meta")


def float32_switches() -> dict:
    """Every process-wide switch of torch's float32 arithmetic (read through the API whose reads never refuse)."""
    backends = torch.backends
    return {"generic": backends.fp32_precision, "cuda.matmul": backends.cuda.matmul.fp32_precision,
            "cudnn": backends.cudnn.fp32_precision, "cudnn.rnn": backends.cudnn.rnn.fp32_precision,
            "cudnn.conv": backends.cudnn.conv.fp32_precision, "cudnn.enabled": backends.cudnn.enabled,
            "matmul": torch.get_float32_matmul_precision()}


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
    assert Precision.resolve("auto", cuda) == Precision(torch.bfloat16, cuda)
    gpus(1, bf16=False)
    assert Precision.resolve("auto", cuda).dtype == torch.float32
    with pytest.raises(TaggerError, match="precision bfloat16: Test GPU has no bfloat16; use float32"):
        Precision.resolve("bfloat16", cuda)
    assert Precision.resolve("float32", cuda).dtype == torch.float32
    assert Precision(torch.float32, cuda).embedding_dtype == Precision(torch.bfloat16, cuda).embedding_dtype == torch.float32


def test_a_float32_gpu_precision_changes_no_process_wide_switch_while_threads_compute(gpus):
    """Two threads' forward passes overlap, one leaving before the other: torch's float32 switches read
    the same inside both and after (they once read TF32-off inside, and stayed off when the threads
    left in this order)."""
    gpus(1, bf16=False)
    precision = Precision.resolve("auto", torch.device("cuda", 0))
    assert precision.dtype == torch.float32
    before, inside = float32_switches(), []
    both_inside, first_left = threading.Barrier(2, timeout=30), threading.Event()

    def forward(leaves_first: bool) -> None:
        with precision.forward_context():
            both_inside.wait()
            inside.append(float32_switches())
            if not leaves_first:
                first_left.wait(30)
        if leaves_first:
            first_left.set()

    threads = [threading.Thread(target=forward, args=(first,)) for first in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert inside == [before, before]
    assert float32_switches() == before


def test_the_tagger_command_and_its_workers_turn_cudnn_tf32_off_for_their_own_process(tiny_model, monkeypatch, capsys):
    """What makes `tagger eval --device cuda` score like the CPU: the command owns its process, a library does not."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)  # torch's default, and put back afterwards
    assert main(["eval", str(tiny_model), str(SAMPLE_DEV), "--device", "cpu"]) == 0
    assert torch.backends.cudnn.allow_tf32 is False
    torch.backends.cudnn.allow_tf32 = True
    assert main(["tag", "--model", str(tiny_model), "--device", "cpu", "--text", "A cat sat."]) == 0
    assert torch.backends.cudnn.allow_tf32 is False
    torch.backends.cudnn.allow_tf32 = True
    monkeypatch.setattr(workers, "_tagger", None)
    workers._load({"path_or_name": str(tiny_model), "threads": 1}, None)  # a `--workers N` process starting
    assert torch.backends.cudnn.allow_tf32 is False and workers._tagger is not None
    torch.backends.cudnn.allow_tf32 = True
    Tagger.load(tiny_model, precision="float32").tag(SENTENCES)
    assert torch.backends.cudnn.allow_tf32 is True  # a Tagger in someone's program leaves it alone


def test_tagger_on_the_cpu_tags_as_the_default(tiny_model, gpus):
    gpus(0)
    default, on_cpu = Tagger.load(tiny_model, precision="float32"), Tagger.load(tiny_model, precision="float32", device="cpu")
    assert default.device == on_cpu.device == torch.device("cpu")  # auto without a GPU
    assert default.tag(SENTENCES).to_conllu() == on_cpu.tag(SENTENCES).to_conllu()
    assert default.network is default.bundle.network  # float32 on the CPU: the trained network itself, not a copy


class Received(Exception):
    """Raised by a hook once it has seen what a module was given: meta tensors hold no data to go on with."""


def test_everything_a_batch_needs_lives_on_the_predictors_device(tiny_model, elsewhere):
    predictor = Predictor(load_model(tiny_model), precision="float32", device="elsewhere")
    assert predictor.device == elsewhere and predictor.batch_tokens == 16384  # a device's batches, not the CPU's 4096
    held = [*predictor.network.parameters(), predictor.cache.table]
    held += [decoder.min_lengths for decoder in predictor.lemma_decoders.values()]
    assert predictor.lemma_decoders and {tensor.device for tensor in held} == {elsewhere}
    received = {}

    def stop(name: str):
        def hook(module, args, kwargs):
            received[name] = {value.device for value in [*args, *kwargs.values()] if isinstance(value, torch.Tensor)}
            raise Received
        return hook

    predictor.network.register_forward_pre_hook(stop("network"), with_kwargs=True)
    predictor.network.cle.register_forward_pre_hook(stop("character encoder"), with_kwargs=True)
    known = predictor.vocabs.words.itos[2:6]  # rows of the stored CLE table: the batch goes straight to the network
    with pytest.raises(Received):
        predictor.predict([Sentence.from_forms(known)])
    with pytest.raises(Received):
        predictor.predict([Sentence.from_forms(["Zqxvb"])])  # unseen: its characters go to the encoder first
    assert received == {"network": {elsewhere}, "character encoder": {elsewhere}}


def test_workers_on_gpus_get_one_card_each_or_one_line(gpus):
    assert worker_devices("cpu", torch.device("cpu"), 4) is None  # CPU workers share the cores, as before
    gpus(2)
    assert worker_devices("auto", torch.device("cuda", 0), 2) == ["cuda:0", "cuda:1"]
    with pytest.raises(TaggerError, match=r"^--workers 3 --device cuda: one worker per GPU, and 2 visible; use --workers 2"):
        worker_devices("cuda", torch.device("cuda", 0), 3)
    with pytest.raises(TaggerError, match=r"^--workers 2 --device cuda:1: one worker per GPU, and cuda:1 is one GPU"):
        worker_devices("cuda:1", torch.device("cuda", 1), 2)


def test_a_predictor_elsewhere_leaves_the_model_it_was_given_on_the_cpu(tiny_model, tmp_path, elsewhere):
    """The predictor moves a copy of the network: the bundle still tags on the CPU and saves as it was."""
    expected = Tagger(load_model(tiny_model), precision="float32", device="cpu").tag(SENTENCES).to_conllu()
    bundle = load_model(tiny_model)
    assert Predictor(bundle, precision="float32", device="elsewhere").network is not bundle.network
    assert {tensor.device.type for tensor in bundle.network.parameters()} == {"cpu"}
    assert Tagger(bundle, precision="float32", device="cpu").tag(SENTENCES).to_conllu() == expected
    saved = save_model(tmp_path / "again.safetensors", bundle.network, bundle.vocabs, bundle.provenance)
    assert {tensor.device.type for tensor in load_file(str(saved)).values()} == {"cpu"}
    assert Tagger(load_model(saved), precision="float32", device="cpu").tag(SENTENCES).to_conllu() == expected
