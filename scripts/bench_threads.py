"""One Tagger shared by many threads: the output equals the sequential run's, and what the threads cost. JSON.

Each thread tags its own `--texts` texts (en_ewt test sentences, every tenth with a new word so
the form cache meets unseen forms) on one shared `Tagger`, in float32 (where results must be
exactly the sequential ones), with `--cache-size` (16 makes the LRU churn) and with or without
the model file's stored embedding table (a file from before it: threads fill the table as they
go). Reported per setting: whether every thread's output equals the sequential run's, any
exception, and the seconds of the sequential and the threaded runs. `lock_cost`: the same texts
tagged on one thread with the cache's lock and with a no-op in its place, taking turns (median of
3): what the lock costs a program that never shares its Tagger.

    python scripts/bench_threads.py [--model en_ewt] [--threads 8] [--texts 200] [--cache-size 16 50000]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import threading
import time
from pathlib import Path

TEST = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ud" / "en_ewt" / "test.conllu"


def texts(count: int) -> list[str]:
    from tagger.data.conllu_io import read_conllu

    prefix = "# text = "
    sentences = [c[len(prefix):] for s in read_conllu(TEST) for c in s.comments if c.startswith(prefix)]
    chosen = []
    for n, text in enumerate(itertools.islice(itertools.cycle(sentences), count)):
        chosen.append(f"Zorblat{n} {text}" if n % 10 == 0 else text)
    return chosen


def tagged(document) -> list:
    return [(t.form, t.start, t.end, *t.tags.values()) for sentence in document for t in sentence]


def run(bundle, cache_size: int, threads: int, work: list[list[str]]) -> dict:
    from tagger import Tagger

    started = time.perf_counter()
    expected = [[tagged(Tagger(bundle, precision="float32", cache_size=cache_size).tag(text)) for text in texts_]
                for texts_ in work]
    sequential = time.perf_counter() - started
    shared = Tagger(bundle, precision="float32", cache_size=cache_size)
    results: dict[int, list] = {}
    errors: list[str] = []

    def worker(index: int) -> None:
        try:
            results[index] = [tagged(shared.tag(text)) for text in work[index]]
        except Exception as error:  # noqa: BLE001 - reported
            errors.append(f"{type(error).__name__}: {error}")

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    threaded = time.perf_counter() - started
    return {"cache_size": cache_size, "stored_table": bundle.form_table is not None,
            "identical": not errors and all(results.get(i) == expected[i] for i in range(threads)),
            "errors": errors[:3], "sequential_seconds": round(sequential, 1), "threaded_seconds": round(threaded, 1)}


def lock_cost(bundle, work: list[str]) -> dict:
    import contextlib
    import statistics

    from tagger import Tagger

    seconds: dict[str, list[float]] = {"lock": [], "no lock": []}
    for _ in range(3):
        for kind in seconds:
            tagger = Tagger(bundle, precision="float32")
            if kind == "no lock":
                tagger.cache._lock = contextlib.nullcontext()
            started = time.perf_counter()
            for text in work:
                tagger.tag(text)
            seconds[kind].append(time.perf_counter() - started)
    lock, free = statistics.median(seconds["lock"]), statistics.median(seconds["no lock"])
    return {"texts": len(work), "lock_seconds": round(lock, 2), "no_lock_seconds": round(free, 2),
            "lock_over_no_lock": round(lock / free, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="en_ewt")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--texts", type=int, default=200, help="texts per thread")
    parser.add_argument("--cache-size", type=int, nargs="+", default=[16, 50_000])
    args = parser.parse_args()

    import torch

    from tagger.inference.shipped import resolve_model
    from tagger.model.model_file import load_model

    torch.set_num_threads(1)  # the threads share the cores; each forward on one
    bundle = load_model(resolve_model(args.model))
    pool = texts(args.threads * args.texts)
    # each thread its own texts, in its own order: the cache churns differently in every thread
    work = [pool[i * args.texts:(i + 1) * args.texts] for i in range(args.threads)]
    runs = [run(table_bundle, cache_size, args.threads, work)
            for table_bundle in (bundle, dataclasses.replace(bundle, form_table=None))
            for cache_size in args.cache_size]
    print(json.dumps({"model": args.model, "threads": args.threads, "texts_per_thread": args.texts, "runs": runs,
                      "lock_cost": lock_cost(bundle, pool)}, indent=2))


if __name__ == "__main__":
    main()
