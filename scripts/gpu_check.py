"""The GPU check of issue 19: train en_ewt with `trainer=gpu` end to end, tag its test set on the GPU and the
CPU, and time tagging on both, as JSON.

Sized to finish inside 8 minutes on one H200 (GPU time is lent 15 minutes at a time, machine start
included: there is no second try), so the JSON is rewritten whole after every phase (`--out`) and a
run cut short still reports what it did; `--budget` skips the phases that no longer fit. Phases:

- `train`: `tagger train data=en_ewt trainer=gpu` (a subprocess, as a user runs it): the whole
  command's seconds, its tagger and segmenter phases' (from the run's scores.json), dev/test scores;
- `test_gpu`: the trained model on the GPU in its default precision, on the test set's gold words
  (UPOS, Lemmas, ...) and its raw text (Words, Sentences, ...);
- `test_cpu`: the same model in float32 on the CPU (gold words), and `upos_agreement`: the share of
  test words whose UPOS the GPU (default precision) and the CPU (float32) agree on;
- `speed_gpu`, `speed_cpu`: words per second on the train text (en_ewt: about 200k words; the 25k
  of test go by too fast on a GPU), gold words and (GPU) raw text: the median of `--passes` passes
  after a warm-up, each pass with the CLE cache as loaded (what one pass earns).

With `--device cpu` every phase runs on the CPU (trainer=default): how to see that the script works
where there is no GPU, with small overrides, e.g.

    python scripts/gpu_check.py --device cpu --data tagger/samples --threads 1 --out check.json \\
        --train-overrides trainer.max_epochs=1 segmenter.training.max_steps=50 segmenter.training.eval_every=25

The device machine has PyTorch and Lightning but no internet and none of hydra-core, omegaconf,
antlr4-python3-runtime, pydantic(-core), conllu, seqeval, pycountry. Build their wheels here, for
CPython 3.12 on manylinux x86_64 (antlr4 and seqeval are source-only, so they are built; seqeval's
own scikit-learn is not needed to score UD), and copy en_ewt beside them (`../shared` does not travel):

    pip wheel --no-deps -w .whl antlr4-python3-runtime==4.9.3 seqeval
    pip download --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.12 \\
        --implementation cp --abi cp312 --find-links .whl -d .whl \\
        hydra-core omegaconf pydantic conllu pycountry safetensors setuptools wheel
    mkdir -p .data && cp -r ../shared/data/ud/en_ewt .data/

then on the device machine (carry `.whl` and `.data`; about 30 MB together):

    pip install --no-index --find-links .whl hydra-core omegaconf pydantic conllu pycountry safetensors setuptools \\
        && pip install --no-index --no-deps .whl/seqeval-*.whl && pip install --no-index --no-deps --no-build-isolation -e . \\
        && python scripts/gpu_check.py --data .data/en_ewt --out $OUT/gpu_check.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from tagger import Tagger
from tagger.data.conllu_io import read_conllu
from tagger.data.raw_text import raw_text
from tagger.evaluation.evaluate import evaluate_file, evaluate_raw

REPO = Path(__file__).resolve().parent.parent


class Report:
    """The JSON so far, rewritten whole (and atomically) at every phase: a cut run still reports."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.started = time.monotonic()
        self.data: dict = {"complete": False}

    def add(self, phase: str, values: dict | bool) -> None:
        """Record `values` under `phase` with the seconds so far, and rewrite the file."""
        self.data[phase] = values
        self.data["seconds"] = round(time.monotonic() - self.started, 1)
        if self.path:
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_text(json.dumps(self.data, indent=2) + "\n")
            os.replace(temporary, self.path)

    def left(self, budget: float) -> float:
        return budget - (time.monotonic() - self.started)


def treebank_files(directory: Path) -> dict[str, Path]:
    """train/dev/test .conllu of a treebank directory (en_ewt's names or the samples'); test falls back to dev."""
    found = {split: sorted(directory.glob(f"*{split}*.conllu")) for split in ("train", "dev", "test")}
    if not found["train"] or not found["dev"]:
        sys.exit(f"gpu_check: {directory}: no *train*.conllu and *dev*.conllu there")
    return {split: (found[split] or found["dev"])[0] for split in found}


def train_phase(args: argparse.Namespace, files: dict[str, Path], run_dir: Path, timeout: float) -> dict:
    """`tagger train` as a user runs it; the tagger and segmenter phases' seconds come from its scores.json."""
    command = [
        sys.executable, "-m", "tagger.cli", "train", "data=en_ewt",
        *(f"data.{split}={path.resolve()}" for split, path in files.items()),
        "trainer=gpu" if args.device == "cuda" else "trainer=default",
        f"hydra.run.dir={run_dir}", "trainer.enable_progress_bar=false",
        *([f"threads={args.threads}"] if args.threads else []), *args.train_overrides,
    ]
    started = time.monotonic()
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir.parent / f"{run_dir.name}.log", "w") as log:
        try:
            code = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=max(1.0, timeout)).returncode
        except subprocess.TimeoutExpired:
            code = "timed out"
    result: dict = {"command": "tagger " + " ".join(command[3:]), "exit": code, "seconds": round(time.monotonic() - started, 1)}
    scores_file = run_dir / "scores.json"
    if scores_file.is_file():
        scores = json.loads(scores_file.read_text())
        result |= {"tagger_seconds": scores["train_seconds"], "segmenter_seconds": scores.get("segmenter_seconds"),
                   **{split: _rounded(scores[split]) for split in ("dev", "test") if split in scores}}
    else:
        result["log_tail"] = (run_dir.parent / f"{run_dir.name}.log").read_text().splitlines()[-5:]
    return result


def test_phase(tagger: Tagger, test_file: Path, raw: bool) -> tuple[dict, list[str]]:
    """Scores on the gold words (and raw text), and the predicted UPOS of every gold word."""
    gold = evaluate_file(tagger.predictor, test_file)
    result = {"device": str(tagger.device), "precision": tagger.precision.name,
              "gold_words": _rounded(gold.scores)}
    if raw:
        tag_text = lambda text: [s.sentence for s in tagger.tag(text, input_format="raw")]  # noqa: E731
        result["raw_text"] = _rounded(evaluate_raw(test_file, tag_text, tagger.columns).scores)
    upos = [tag for sentence in gold.predicted for tag in sentence.column("upos")] if "upos" in tagger.columns else []
    return result, upos


def words_per_second(tagger: Tagger, run: Callable[[], object], words: int, passes: int) -> float:
    """Median words/s of `passes` runs after a warm-up; every run starts from the caches as loaded."""
    seconds = []
    for attempt in range(passes + 1):
        tagger.predictor.clear_caches()
        started = time.perf_counter()
        run()
        if tagger.device.type == "cuda":
            torch.cuda.synchronize(tagger.device)
        if attempt:  # the first is the warm-up
            seconds.append(time.perf_counter() - started)
    return round(words / statistics.median(seconds))


def speed_phase(tagger: Tagger, train_file: Path, passes: int, raw: bool) -> dict:
    sentences = read_conllu(train_file)
    forms = [sentence.forms for sentence in sentences]
    words = sum(map(len, forms))
    result = {"words": words, "passes": passes,
              "gold_words_per_second": words_per_second(tagger, lambda: tagger.tag(forms), words, passes)}
    if raw:
        text = raw_text(sentences, str(train_file))
        result["raw_text_words_per_second"] = words_per_second(tagger, lambda: tagger.tag(text, input_format="raw"), words, passes)
    return result


def _rounded(scores: dict) -> dict:
    return {name: round(value, 2) for name, value in scores.items()}


def environment(device: str) -> dict:
    gpu = torch.cuda.get_device_name() if device == "cuda" and torch.cuda.is_available() else None
    return {"torch": torch.__version__, "python": platform.python_version(), "cpu_cores": os.cpu_count(),
            "gpu": gpu, "gpu_bf16": torch.cuda.is_bf16_supported(including_emulation=False) if gpu else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ud" / "en_ewt", help="treebank directory")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: every phase on the CPU")
    parser.add_argument("--out", type=Path, help="the JSON, rewritten after every phase (also printed at the end)")
    parser.add_argument("--run-dir", type=Path, help="where to train (default runs/gpu_check/<time>)")
    parser.add_argument("--model", type=Path, help="skip training: check this model file")
    parser.add_argument("--budget", type=float, default=470, help="seconds; phases that no longer fit are skipped")
    parser.add_argument("--passes", type=int, default=3, help="timed passes per speed measurement, after a warm-up")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: every core)")
    parser.add_argument("--train-overrides", nargs="*", default=[], help="more `tagger train` overrides")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: --device cuda: no CUDA device is available (--device cpu checks the script on the CPU)")
    if args.threads:
        torch.set_num_threads(args.threads)
    report, files = Report(args.out), treebank_files(args.data)
    report.add("environment", environment(args.device) | {"data": str(args.data), "threads": torch.get_num_threads()})
    model = args.model
    if model is None:
        run_dir = args.run_dir or REPO / "runs" / "gpu_check" / time.strftime("%Y-%m-%d_%H-%M-%S")
        report.add("train", train_phase(args, files, run_dir, report.left(args.budget) - 60))
        model = run_dir / "model.safetensors"  # written when the tagger phase ends, even if the segmenter's was cut
    if not model.is_file():
        return print(json.dumps(report.data, indent=2))
    run_phases(args, report, model, files)
    report.add("complete", True)
    print(json.dumps(report.data, indent=2))


def run_phases(args: argparse.Namespace, report: Report, model: Path, files: dict[str, Path]) -> None:
    """Test scores on the device and the CPU, their UPOS agreement, then words/s: each phase if time allows."""
    device_tagger = Tagger.load(model, device=args.device)  # its default precision there
    cpu_tagger = Tagger.load(model, device="cpu", precision="float32")
    scores, device_upos = test_phase(device_tagger, files["test"], raw=True)
    report.add("test_gpu", scores)
    scores, cpu_upos = test_phase(cpu_tagger, files["test"], raw=False)
    agreement = sum(a == b for a, b in zip(device_upos, cpu_upos)) / max(1, len(cpu_upos))
    report.add("test_cpu", scores | {"upos_agreement_with_gpu": round(100 * agreement, 3)})
    for phase, tagger, raw, reserve in (("speed_gpu", device_tagger, True, 90), ("speed_cpu", cpu_tagger, False, 0)):
        if report.left(args.budget) < reserve + 30:
            report.add(phase, {"skipped": "out of time (--budget)"})
            continue
        report.add(phase, speed_phase(tagger, files["train"], args.passes, raw))


if __name__ == "__main__":
    main()
