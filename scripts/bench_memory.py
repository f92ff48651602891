"""Memory and time on long inputs, as JSON: the bar of issue 28, in the default precision and in float32.

- `pipe`: UD English-EWT train sentences, cycled, in documents of 20 sentences (joined by a space),
  through `Tagger.pipe` until 100k and until 1M words. Each run is a fresh process that loads the
  model, notes its peak resident memory, tags (counting words, keeping nothing) and notes the peak
  again. Memory is bounded when the 1M-word run peaks no higher than the 100k-word one (the bar:
  at most 1.1x, and 600 MB). `--new-word-every N` makes one word of every Nth sentence new
  (`word` -> `word<n>`), so the form cache and the lemma memory meet ever more unseen forms.
- `long_line`: one line of en_ewt train sentences joined by spaces, repeated to 100k and 10M
  characters, through `tagger tag` as a whole process: its peak memory, and its time per character
  net of the command's fixed cost (the same command on one short line), which should be the same at
  both sizes (the bar: the 10M line at most 800 MB and within 1.5x the 100k line's time per character).
- `cpu`: what the figures ran on: lscpu's model name, whether the CPU has avx512_bf16 and AMX,
  torch's version, and any oneDNN or ideep cache setting found in the environment (none should be:
  the bound must hold without one). Each pipe run names the precision it ran in ("auto"'s choice).

    python scripts/bench_memory.py [--model en_ewt] [--words 100000 1000000] [--line-chars 100000 10000000]
                                   [--precisions auto float32] [--threads 2] [--new-word-every 0] [--skip pipe line]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

TRAIN = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ud" / "en_ewt" / "train.conllu"
SENTENCES_PER_DOCUMENT = 20


def train_sentences() -> list[str]:
    from tagger.data.conllu_io import read_conllu

    prefix = "# text = "
    return [c[len(prefix):] for s in read_conllu(TRAIN) for c in s.comments if c.startswith(prefix)]


def documents(limit: int, new_word_every: int) -> Iterator[str]:
    """Documents of SENTENCES_PER_DOCUMENT train sentences until about `limit` whitespace-separated words."""
    words = 0
    sentences = itertools.cycle(train_sentences())
    for n in itertools.count():
        if words >= limit:
            return
        document = []
        for i, text in enumerate(itertools.islice(sentences, SENTENCES_PER_DOCUMENT), start=n * SENTENCES_PER_DOCUMENT):
            if new_word_every and i % new_word_every == 0:
                first, _, rest = text.partition(" ")
                text = f"{first}{i} {rest}"
            document.append(text)
        words += sum(len(text.split()) for text in document)
        yield " ".join(document)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pipe_child(model: str, limit: int, threads: int, precision: str, new_word_every: int) -> dict:
    from tagger import Tagger

    tagger = Tagger.load(model, threads=threads, precision=precision)
    loaded = peak_mb()
    started = time.perf_counter()
    tagged = sum(len(sentence.sentence) for document in tagger.pipe(documents(limit, new_word_every)) for sentence in document)
    return {"precision": tagger.precision.name, "words": limit, "syntactic_words": tagged, "seconds": round(time.perf_counter() - started, 1),
            "peak_mb_after_load": round(loaded), "peak_mb": round(peak_mb()), "cached_forms": len(tagger.cache.vectors)}


def long_line_text(chars: int) -> str:
    """en_ewt train sentences joined by spaces, repeated, cut to `chars` characters at a space."""
    one = " ".join(train_sentences())
    text = (one + " ") * (chars // (len(one) + 1) + 1)
    return text[: text.rindex(" ", 0, chars + 1)]


def tag_command(model: str, path: str, threads: int, precision: str) -> tuple[float, float]:
    """Seconds and peak resident MB of `tagger tag FILE` as a whole process (its own rusage, by wait4)."""
    command = [sys.executable, "-m", "tagger.cli", "tag", "--model", model, "--threads", str(threads),
               "--precision", precision, "-f", "tsv", path]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed with {process.returncode}")
    return seconds, usage.ru_maxrss / 1024


def long_lines(model: str, sizes: list[int], threads: int, precision: str) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        fixed_path = Path(folder, "short.txt")
        fixed_path.write_text("One short line .\n", encoding="utf-8")
        fixed, _ = tag_command(model, str(fixed_path), threads, precision)
        runs = []
        for chars in sizes:
            path = Path(folder, f"line{chars}.txt")
            path.write_text(long_line_text(chars) + "\n", encoding="utf-8")
            seconds, peak = tag_command(model, str(path), threads, precision)
            path.unlink()
            runs.append({"chars": chars, "seconds": round(seconds, 1), "peak_mb": round(peak),
                         "us_per_char_net": round((seconds - fixed) / chars * 1e6, 2)})
    return {"fixed_seconds": round(fixed, 1), "runs": runs,
            "us_per_char_ratio": round(runs[-1]["us_per_char_net"] / runs[0]["us_per_char_net"], 2)}


def cpu_report() -> dict:
    """lscpu's model name, the flags that decide "auto", torch's version and any kernel cache setting in the
    environment; tagger is not imported here (importing it sets its caps in this process's environment)."""
    import torch

    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model_name = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), None)
    flags = set()
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    return {"model_name": model_name, "avx512_bf16": "avx512_bf16" in flags,
            "amx": sorted(flag for flag in flags if flag.startswith("amx")), "torch": torch.__version__,
            "kernel_cache_environment": {name: value for name, value in os.environ.items()
                                         if name.startswith(("ONEDNN_", "DNNL_", "LRU_CACHE_CAPACITY"))}}


def _in_child(args: argparse.Namespace, precision: str, limit: int) -> dict:
    command = [sys.executable, __file__, "--model", args.model, "--threads", str(args.threads),
               "--new-word-every", str(args.new_word_every), "--child", precision, str(limit)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="en_ewt")
    parser.add_argument("--words", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--line-chars", type=int, nargs="+", default=[100_000, 10_000_000])
    parser.add_argument("--precisions", nargs="+", default=["auto", "float32"], choices=["auto", "float32", "bfloat16", "int8"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--new-word-every", type=int, default=0)
    parser.add_argument("--skip", nargs="*", default=[], choices=["pipe", "line"])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        precision, limit = args.child[0], int(args.child[1])
        print(json.dumps(pipe_child(args.model, limit, args.threads, precision, args.new_word_every)))
        return
    report: dict = {"model": args.model, "threads": args.threads, "cpu": cpu_report()}
    for precision in args.precisions:
        result: dict = {}
        if "pipe" not in args.skip:
            runs = [_in_child(args, precision, limit) for limit in args.words]
            result["pipe"] = {"new_word_every": args.new_word_every, "runs": runs,
                              "peak_ratio": round(runs[-1]["peak_mb"] / runs[0]["peak_mb"], 2)}
        if "line" not in args.skip:
            result["long_line"] = long_lines(args.model, args.line_chars, args.threads, precision)
        report[precision] = result
        print(json.dumps({precision: result}), file=sys.stderr)  # progress: a full run takes a while
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
