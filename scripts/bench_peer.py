"""The peer to beat: spaCy's efficiency tagger+morphologizer trained on the same treebank, timed beside ours.

Trains spaCy (CPU, `spacy init config --pipeline tagger,morphologizer --optimize efficiency`) on
UD English-EWT train/dev, unless its model is already in the work directory, then times both
systems on the test set and prints words per second, the ratios and each system's test UPOS as
JSON. Every timing runs in a process of its own (in one process torch's OpenMP threads and
spaCy's numpy compete, and the ratio swung from 0.72x to 1.50x with the harness): each round
starts one process per system, which loads its model, tags the input once untimed and then
times three passes (their median); the systems take turns, round after round, with the same threads, and the
median of the rounds is reported with its spread. The tagger runs in its default precision and
in float32 (most laptops have no native bfloat16). `--whole-process` also times `tagger tag` of
the test raw text as a whole command (median of the rounds).

Two inputs:
- raw text: the test set's paragraphs (`tagger.data.raw_text.raw_text`), which spaCy tokenizes
  with its English rules and tagger splits into sentences and tokens with its own;
- gold words: spaCy gets `Doc(vocab, words=...)` per sentence through its pipeline, tagger
  `Tagger.tag(list_of_token_lists)`.
Both rates count the gold words, so they are the same work measured in the same unit. Each
tagger pass starts with an empty form cache, as a one-off `tagger tag` run does.

spaCy is a benchmark-only dependency: `pip install -e ".[bench]"`.

    python scripts/bench_peer.py [--threads 2] [--epochs 2 | --full] [--repeats 5]
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "ud" / "en_ewt"
WORKDIR = REPO.parent / "runs" / "spacy_peer"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS")


def convert(conllu: Path, output: Path) -> None:
    """CoNLL-U -> spaCy DocBin (10 sentences a doc, as `spacy convert` does)."""
    from spacy.tokens import DocBin
    from spacy.training.converters import conllu_to_docs

    docs = conllu_to_docs(conllu.read_text(encoding="utf-8"), n_sents=10, no_print=True)
    DocBin(docs=docs, store_user_data=True).to_disk(output)


def train_spacy(data: Path, workdir: Path, epochs: int | None) -> Path:
    """Train the peer into `workdir` and return its best model; `epochs=None` keeps spaCy's own stopping rule."""
    workdir.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev"):
        convert(data / f"{split}.conllu", workdir / f"{split}.spacy")
    spacy = [sys.executable, "-m", "spacy"]
    config = workdir / "config.cfg"
    subprocess.run([*spacy, "init", "config", str(config), "--lang", "en", "--pipeline", "tagger,morphologizer",
                    "--optimize", "efficiency", "--force"], check=True)
    schedule = [] if epochs is None else [f"--training.max_epochs={epochs}", "--training.max_steps=0"]
    subprocess.run([*spacy, "train", str(config), "--output", str(workdir / "output"),
                    f"--paths.train={workdir / 'train.spacy'}", f"--paths.dev={workdir / 'dev.spacy'}", *schedule],
                   check=True)
    return workdir / "output" / "model-best"


def upos_accuracy(predicted: list[list[str]], gold: list[list[str]]) -> float:
    pairs = [(p, g) for ps, gs in zip(predicted, gold) for p, g in zip(ps, gs)]
    return round(100 * sum(p == g for p, g in pairs) / len(pairs), 2)


SYSTEMS = ("spacy", "tagger", "tagger float32")
PASSES = 3  # timed passes per process, after an untimed one: the process reports their median


def child(system: str, model: str, spacy_dir: Path, data: Path, threads: int) -> dict:
    """Load one system, tag the test input once untimed, then time PASSES passes of each kind: words/s (of
    their median) and UPOS."""
    for variable in THREAD_VARIABLES:  # numpy (spaCy) and torch read their thread counts when first imported
        os.environ[variable] = str(threads)
    from tagger.data.conllu_io import read_conllu
    from tagger.data.raw_text import paragraphs, raw_text

    gold = read_conllu(data / "test.conllu")
    words = [s.forms for s in gold]
    paragraph_texts = [p.text for p in paragraphs(gold)]
    n_words = sum(map(len, words))
    if system == "spacy":
        import spacy
        from spacy.tokens import Doc

        nlp = spacy.load(spacy_dir)
        runs = {"raw": lambda: list(nlp.pipe(paragraph_texts)),
                "gold": lambda: list(nlp.pipe(Doc(nlp.vocab, words=w) for w in words))}
        upos = lambda: [[t.pos_ for t in doc] for doc in runs["gold"]()]  # noqa: E731
    else:
        import torch

        from tagger import Tagger

        torch.set_num_threads(threads)
        tagger = Tagger.load(model, precision="float32" if system.endswith("float32") else "auto")
        text = raw_text(gold)

        def fresh(data):  # every pass starts with empty caches, as a one-off `tagger tag` run does
            tagger.predictor.clear_caches()
            return tagger.tag(data)

        runs = {"raw": lambda: fresh(text), "gold": lambda: fresh(words)}
        upos = lambda: [s.sentence.column("upos") for s in runs["gold"]()]  # noqa: E731
    result = {}
    for kind, run in runs.items():
        run()
        seconds = []
        for _ in range(PASSES):
            started = time.perf_counter()
            run()
            seconds.append(time.perf_counter() - started)
        result[kind] = n_words / statistics.median(seconds)
    result["upos"] = upos_accuracy(upos(), [s.column("upos") for s in gold])
    return result


def whole_process(model: str, data: Path, threads: int) -> float:
    """Seconds of `tagger tag` on the test raw text as one command, output discarded."""
    from tagger.data.conllu_io import read_conllu
    from tagger.data.raw_text import raw_text

    text = raw_text(read_conllu(data / "test.conllu"))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tagger.cli", "tag", "--model", model, "--threads", str(threads), "-"],
                   input=text.encode(), stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def _run_child(args: argparse.Namespace, system: str, model_dir: Path) -> dict:
    command = [sys.executable, __file__, "--child", system, "--model", args.model, "--data", str(args.data),
               "--threads", str(args.threads), "--spacy-model", str(model_dir)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def _summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values)), "min": round(min(values)), "max": round(max(values)),
            "spread_pct": round(100 * (max(values) - min(values)) / statistics.median(values), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with train/dev/test.conllu")
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help="where the spaCy model is trained and kept")
    parser.add_argument("--model", default="en_ewt", help="tagger model file or shipped model name")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="rounds; each system runs once a round, in its own process")
    parser.add_argument("--epochs", type=int, default=2, help="spaCy training epochs: enough to time it")
    parser.add_argument("--full", action="store_true", help="train spaCy to its own stopping rule, for its accuracy")
    parser.add_argument("--retrain", action="store_true", help="train spaCy even if the work directory has a model")
    parser.add_argument("--whole-process", action="store_true", help="also time `tagger tag` of the test raw text")
    parser.add_argument("--child", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--spacy-model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model, args.spacy_model, args.data, args.threads)))
        return

    model_dir = args.workdir / "output" / "model-best"
    if args.retrain or not model_dir.is_dir():
        model_dir = train_spacy(args.data, args.workdir, None if args.full else args.epochs)
    rounds: dict[str, list[dict]] = {system: [] for system in SYSTEMS}
    commands: list[float] = []
    for _ in range(args.repeats):
        for system in SYSTEMS:
            rounds[system].append(_run_child(args, system, model_dir))
        if args.whole_process:
            commands.append(whole_process(args.model, args.data, args.threads))
    rate = {system: {kind: _summary([r[kind] for r in results]) for kind in ("raw", "gold")}
            for system, results in rounds.items()}
    ratios = {f"{system} / spacy": {kind: round(rate[system][kind]["median"] / rate["spacy"][kind]["median"], 3)
                                     for kind in ("raw", "gold")} for system in SYSTEMS[1:]}
    import spacy
    import torch

    print(json.dumps({
        "threads": args.threads, "rounds": args.repeats, "spacy_model": str(model_dir),
        "spacy_dev_scores": {key: value for key, value in json.loads((model_dir / "meta.json").read_text())
                             .get("performance", {}).items() if key.endswith("_acc")},
        "words_per_second": rate,
        "ratios": ratios,
        "test_upos_gold_words": {system: results[0]["upos"] for system, results in rounds.items()},
        **({"tagger_tag_whole_process_seconds": {"median": round(statistics.median(commands), 2),
                                                 "min": round(min(commands), 2), "max": round(max(commands), 2)}}
           if commands else {}),
        "load": os.getloadavg(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, spaCy {spacy.__version__}",
    }, indent=2))


if __name__ == "__main__":
    main()
