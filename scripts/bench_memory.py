"""Memory and time on long inputs, as JSON: `Tagger.pipe` over 100k and 1M words, one long line
through `tagger tag`, and many short texts against the same words as one text.

Each size runs in a fresh process that loads the model, notes its peak resident memory, streams
texts through `Tagger.pipe` (counting the tagged words, keeping nothing) and notes the peak again.
The texts are UD English-EWT test paragraphs, over and over; in every tenth sentence one word is
made new (`word` -> `word<n>`), so the form cache and the lemma memory meet ever more unseen
forms, as a large real corpus makes them do. Memory is flat when the 1M-word run peaks no higher
than the 100k-word one.

One long line: `"word " * N` with no punctuation (a text dump, OCR output) through `Tagger.tag`
for each N of `--line-words` (a process each, timed after a warm-up): seconds, peak resident
memory and microseconds per word (linear time means the same figure at every N); and the largest
through `tagger tag` as a whole process. Many texts: the en_ewt train sentences
(12,544) through `Tagger.pipe` as separate texts and joined as one text; the ratio of the times.

    python scripts/bench_memory.py [--model en_ewt] [--words 100000 1000000] [--line-words 1000 10000 100000 200000]
                                   [--threads 2] [--precision auto] [--skip pipe line texts]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

UD = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ud" / "en_ewt"
TEST, TRAIN = UD / "test.conllu", UD / "train.conllu"


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


def long_line(model: str, words: int, threads: int, precision: str) -> dict:
    """`Tagger.tag` of one line of `words` words, timed after loading and a warm-up; this process's peak memory."""
    from tagger import Tagger

    tagger = Tagger.load(model, threads=threads, precision=precision)
    tagger.tag("word " * 300)
    started = time.perf_counter()
    tagged = sum(map(len, tagger.tag("word " * words)))
    seconds = time.perf_counter() - started
    return {"words": words, "tagged": tagged, "seconds": round(seconds, 2),
            "us_per_word": round(seconds / words * 1e6, 1), "peak_mb": round(peak_mb())}


def long_line_command(model: str, words: int, threads: int, precision: str) -> dict:
    """`tagger tag` of one line of `words` words as a whole process: its time and peak memory."""
    command = [sys.executable, "-m", "tagger.cli", "tag", "--model", model, "--threads", str(threads),
               "--precision", precision, "-f", "tsv"]
    started = time.perf_counter()
    subprocess.run(command, input=("word " * words + "\n").encode(), check=True, stdout=subprocess.DEVNULL)
    return {"words": words, "seconds": round(time.perf_counter() - started, 1),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)}


def texts_against_one(model: str, threads: int, precision: str) -> dict:
    """The train sentences as separate texts and as one text (a blank line between), each timed once after a warm-up."""
    from tagger import Tagger
    from tagger.data.conllu_io import read_conllu

    prefix = "# text = "
    sentences = [c[len(prefix):] for s in read_conllu(TRAIN) for c in s.comments if c.startswith(prefix)]
    tagger = Tagger.load(model, threads=threads, precision=precision)
    list(tagger.pipe(sentences[:500]))
    started = time.perf_counter()
    separate = sum(len(document) for document in tagger.pipe(sentences))
    separate_seconds = time.perf_counter() - started
    started = time.perf_counter()
    joined = len(tagger.tag("\n\n".join(sentences)))
    joined_seconds = time.perf_counter() - started
    return {"texts": len(sentences), "sentences_separate": separate, "sentences_joined": joined,
            "separate_seconds": round(separate_seconds, 1), "joined_seconds": round(joined_seconds, 1),
            "ratio": round(separate_seconds / joined_seconds, 2)}


def _in_child(args: argparse.Namespace, what: str, size: int) -> dict:
    command = [sys.executable, __file__, "--model", args.model, "--threads", str(args.threads),
               "--precision", args.precision, "--child", what, str(size)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="en_ewt")
    parser.add_argument("--words", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--line-words", type=int, nargs="+", default=[1_000, 10_000, 100_000, 200_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16", "int8"])
    parser.add_argument("--skip", nargs="*", default=[], choices=["pipe", "line", "texts"])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, size = args.child[0], int(args.child[1])
        if what == "pipe":
            print(json.dumps(child(args.model, size, args.threads, args.precision)))
        elif what == "line":
            print(json.dumps(long_line(args.model, size, args.threads, args.precision)))
        else:
            print(json.dumps(texts_against_one(args.model, args.threads, args.precision)))
        return
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64")  # for every child, as the `tagger` CLI sets it
    report: dict = {"model": args.model, "precision": args.precision, "threads": args.threads,
                    "onednn_primitive_cache": os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"]}
    if "pipe" not in args.skip:
        runs = [_in_child(args, "pipe", limit) for limit in args.words]
        smallest, largest = runs[0], runs[-1]
        report["pipe"] = {"runs": runs, "peak_growth_mb": largest["peak_mb"] - smallest["peak_mb"],
                          "peak_ratio": round(largest["peak_mb"] / smallest["peak_mb"], 2)}
    if "line" not in args.skip:
        lines = [_in_child(args, "line", words) for words in args.line_words]
        report["long_line"] = {"runs": lines, "us_per_word_ratio": round(lines[-1]["us_per_word"] / lines[0]["us_per_word"], 2),
                               "command": long_line_command(args.model, max(args.line_words), args.threads, args.precision)}
    if "texts" not in args.skip:
        report["texts_against_one"] = _in_child(args, "texts", 0)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
