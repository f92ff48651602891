"""Train the learned segmenter on one treebank and score it on raw test text: JSON to stdout.

Train on `train.conllu`, choose the epoch on `dev.conllu`, then segment the test file's raw text
(rebuilt from `# text`, `SpaceAfter=No` and `# newpar`/`# newdoc`, as `raw_text` does) and score
Tokens, Sentences and Words F1 the CoNLL 2018 way. Also reported: training minutes, the
segmenter's speed on the test text (characters per second, 1 and 2 threads, beside the rule
tokenizer's on the same text) and its size.

    OMP_WAIT_POLICY=PASSIVE python scripts/segmenter_experiment.py tr_atis [--hidden-size 64] [--save out.safetensors]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import save_file

from tagger.data.conllu_io import read_conllu
from tagger.data.raw_text import raw_text
from tagger.evaluation.conll18 import evaluate_conll18
from tagger.segmentation.learned import LearnedSegmenter
from tagger.segmentation.rules import Tokenizer
from tagger.segmentation.tokens import conllu_sentence
from tagger.training.segmenter_training import default_configs, train_segmenter

NETWORK, TRAINING = default_configs()  # conf/train.yaml's segmenter section

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ud"  # ../shared/data/ud from the repo root
REPORTED = ("Tokens", "Sentences", "Words")


def chars_per_second(tokenizer: LearnedSegmenter | Tokenizer, text: str, threads: int) -> int:
    """Best of three timings of the whole `tokenize` (for the segmenter: network and decoding) on `text`."""
    torch.set_num_threads(threads)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        tokenizer.tokenize(text)
        best = min(best, time.perf_counter() - started)
    return round(len(text) / best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("treebank")
    parser.add_argument("--data", type=Path, default=DATA, help="holds <treebank>/{train,dev,test}.conllu")
    parser.add_argument("--hidden-size", type=int, default=NETWORK.hidden_size)
    parser.add_argument("--layers", type=int, default=NETWORK.layers)
    parser.add_argument("--window", type=int, default=NETWORK.window)
    parser.add_argument("--context", type=int, default=NETWORK.context)
    parser.add_argument("--max-steps", type=int, default=TRAINING.max_steps)
    parser.add_argument("--sentence-end-weight", type=float, default=TRAINING.sentence_end_weight)
    parser.add_argument("--save", type=Path, help="save tensors here, metadata beside (.json)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)

    folder = args.data / args.treebank
    train, dev, test = (read_conllu(folder / f"{split}.conllu") for split in ("train", "dev", "test"))
    config = replace(NETWORK, hidden_size=args.hidden_size, layers=args.layers, window=args.window, context=args.context)
    training = replace(TRAINING, max_steps=args.max_steps, sentence_end_weight=args.sentence_end_weight)
    segmenter, report = train_segmenter(train, dev, config, training, str(folder / "train.conllu"))

    text = raw_text(test, str(folder / "test.conllu"))
    learned = LearnedSegmenter(segmenter)
    scores = evaluate_conll18(test, [conllu_sentence(sentence)[0] for sentence in learned.tokenize(text)])
    tensors = {name: tensor.contiguous() for name, tensor in segmenter.state_dict().items()}
    metadata = json.dumps(segmenter.metadata(), ensure_ascii=False)
    result = {
        "treebank": args.treebank,
        "config": segmenter.metadata()["config"],
        "test": {name: round(scores[name].f1, 2) for name in REPORTED},
        "dev": report["dev"],
        "steps": report["history"][-1]["step"],
        "training_minutes": round(report["minutes"], 1),
        "chars_per_second": {
            "1 thread": chars_per_second(learned, text, 1),
            "2 threads": chars_per_second(learned, text, 2),
            "rule tokenizer": chars_per_second(Tokenizer(args.treebank.partition("_")[0]), text, 1),
        },
        "size_bytes": {
            "tensors": sum(t.numel() * t.element_size() for t in tensors.values()),
            "metadata": len(metadata.encode()),
        },
    }
    if args.save:
        save_file(tensors, str(args.save))
        args.save.with_suffix(".json").write_text(metadata, encoding="utf-8")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
