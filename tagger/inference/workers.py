"""`tagger tag --workers N`: sentences tagged in N processes, written in input order, memory flat.

The input is read (and raw text segmented) in the calling process; chunks of sentence records go
to worker processes, each with its own copy of the model, which tag and format them; the
formatted chunks come back in input order. At most two chunks per worker are in flight, so a
file of any size holds only those in memory. Workers are spawned, not forked: a fork of a
process whose OpenMP threads have run can hang.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from tagger.inference.documents import OUTPUT_FORMATS, TaggedSentence

CHUNK_SENTENCES = 500  # per task: large enough that the hand-over costs little against the tagging
_tagger = None  # the model of this worker process, loaded once by `_load`


def default_threads(workers: int) -> int:
    """Torch threads per worker: the cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // workers)


def _load(load_options: dict) -> None:
    global _tagger
    from tagger.inference.tagger import Tagger

    _tagger = Tagger.load(**load_options)


def _tag_chunk(chunk: list[TaggedSentence], output_format: str, probabilities: bool, top_k: int) -> str:
    write = OUTPUT_FORMATS[output_format]
    tagged = _tagger.tag_stream(chunk, probabilities, chunk_sentences=len(chunk), top_k=top_k)
    return "".join(write(sentence) for sentence in tagged)


def tag_in_workers(
    sentences: Iterable[TaggedSentence],
    load_options: dict,
    workers: int,
    output_format: str,
    probabilities: bool = False,
    top_k: int = 0,
    chunk_sentences: int = CHUNK_SENTENCES,
) -> Iterator[str]:
    """The formatted output of `sentences`, chunk by chunk in input order, tagged by `workers` processes
    that each load `Tagger.load(**load_options)`."""
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_load, initargs=(load_options,))
    pending: deque[Future[str]] = deque()
    iterator = iter(sentences)
    try:
        while chunk := list(itertools.islice(iterator, chunk_sentences)):
            pending.append(pool.submit(_tag_chunk, chunk, output_format, probabilities, top_k))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
