"""Peak memory of `Tagger.pipe` over 100k and over 1M words, the results dropped as they come: JSON.

Each size runs in a fresh process that loads the model, notes its peak resident memory, streams
texts through `Tagger.pipe` (counting the tagged words, keeping nothing) and notes the peak again.
The texts are UD English-EWT test paragraphs, over and over; in every tenth sentence one word is
made new (`word` -> `word<n>`), so the form cache and the lemma memory meet ever more unseen
forms, as a large real corpus makes them do. Memory is flat when the 1M-word run peaks no higher
than the 100k-word one.

    python scripts/bench_memory.py [--model en_ewt] [--words 100000 1000000] [--threads 2] [--precision auto]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

TEST = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ud" / "en_ewt" / "test.conllu"


def texts(limit: int) -> Iterator[str]:
    """Paragraph texts until about `limit` whitespace-separated words, every tenth sentence with a new word."""
    from tagger.data.conllu_io import read_conllu

    prefix = "# text = "
    sentences = [c[len(prefix):] for s in read_conllu(TEST) for c in s.comments if c.startswith(prefix)]
    words = 0
    for n, text in enumerate(itertools.cycle(sentences)):
        if words >= limit:
            return
        if n % 10 == 0:
            first, _, rest = text.partition(" ")
            text = f"{first}{n} {rest}"
        words += len(text.split())
        yield text


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(model: str, limit: int, threads: int, precision: str) -> dict:
    from tagger import Tagger

    tagger = Tagger.load(model, threads=threads, precision=precision)
    loaded = peak_mb()
    started = time.perf_counter()
    tagged = sum(len(sentence.sentence) for document in tagger.pipe(texts(limit)) for sentence in document)
    return {"words": limit, "syntactic_words": tagged, "seconds": round(time.perf_counter() - started, 1),
            "peak_mb_after_load": round(loaded), "peak_mb": round(peak_mb()),
            "cached_forms": len(tagger.cache.vectors)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="en_ewt")
    parser.add_argument("--words", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.model, args.child, args.threads, args.precision)))
        return
    runs = []
    for limit in args.words:
        command = [sys.executable, __file__, "--model", args.model, "--threads", str(args.threads),
                   "--precision", args.precision, "--child", str(limit)]
        runs.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1]))
    smallest, largest = runs[0], runs[-1]
    print(json.dumps({"model": args.model, "precision": args.precision, "runs": runs, "peak_growth_mb": largest["peak_mb"] - smallest["peak_mb"],
                      "flat": largest["peak_mb"] <= smallest["peak_mb"] * 1.05}, indent=2))


if __name__ == "__main__":
    main()
