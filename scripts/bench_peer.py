"""The peer to beat: spaCy's efficiency tagger+morphologizer trained on the same treebank, timed beside ours.

Trains spaCy (CPU, `spacy init config --pipeline tagger,morphologizer --optimize efficiency`) on
UD English-EWT train/dev, unless its model is already in the work directory, then times both
systems in one process on the test set, taking turns after a warm-up round, with the same
number of threads, and prints words per second, the ratio and each system's test UPOS as JSON.

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
import subprocess
import sys
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with train/dev/test.conllu")
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help="where the spaCy model is trained and kept")
    parser.add_argument("--model", default="en_ewt", help="tagger model file or shipped model name")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2, help="spaCy training epochs: enough to time it")
    parser.add_argument("--full", action="store_true", help="train spaCy to its own stopping rule, for its accuracy")
    parser.add_argument("--retrain", action="store_true", help="train spaCy even if the work directory has a model")
    args = parser.parse_args()

    # numpy (spaCy) and torch read their thread counts when first imported
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(args.threads)
    import spacy
    import torch
    from spacy.tokens import Doc

    from bench_speed import interleaved  # scripts/ is on the path: the same turn-taking timer
    from tagger import Tagger
    from tagger.data.conllu_io import read_conllu
    from tagger.data.raw_text import paragraphs, raw_text

    torch.set_num_threads(args.threads)
    model_dir = args.workdir / "output" / "model-best"
    if args.retrain or not model_dir.is_dir():
        model_dir = train_spacy(args.data, args.workdir, None if args.full else args.epochs)
    nlp = spacy.load(model_dir)
    tagger = Tagger.load(args.model)

    gold = read_conllu(args.data / "test.conllu")
    words = [s.forms for s in gold]
    gold_upos = [s.column("upos") for s in gold]
    text = raw_text(gold)
    paragraph_texts = [p.text for p in paragraphs(gold)]
    n_words = sum(map(len, words))

    def spacy_gold() -> list:
        return list(nlp.pipe(Doc(nlp.vocab, words=w) for w in words))

    def tagger_gold() -> object:
        tagger.predictor.clear_caches()
        return tagger.tag(words)

    def tagger_raw() -> object:
        tagger.predictor.clear_caches()
        return tagger.tag(text)

    runs = {
        "spacy raw": lambda: list(nlp.pipe(paragraph_texts)),
        "tagger raw": tagger_raw,
        "spacy gold": spacy_gold,
        "tagger gold": tagger_gold,
    }
    seconds = interleaved(runs, args.repeats)
    rate = {name: round(n_words / s) for name, s in seconds.items()}
    accuracy = {
        "spacy": upos_accuracy([[t.pos_ for t in doc] for doc in spacy_gold()], gold_upos),
        "tagger": upos_accuracy([s.sentence.column("upos") for s in tagger_gold()], gold_upos),
    }
    print(json.dumps({
        "threads": args.threads, "repeats": args.repeats, "words": n_words,
        "spacy_model": str(model_dir),
        "spacy_dev_scores": {key: value for key, value in json.loads((model_dir / "meta.json").read_text())
                             .get("performance", {}).items() if key.endswith("_acc")},
        "words_per_second": rate,
        "tagger_over_spacy": {kind: round(rate[f"tagger {kind}"] / rate[f"spacy {kind}"], 3) for kind in ("raw", "gold")},
        "test_upos_gold_words": accuracy,
        "load": os.getloadavg(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, spaCy {spacy.__version__}",
    }, indent=2))


if __name__ == "__main__":
    main()
