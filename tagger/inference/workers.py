"""`tagger tag --workers N`: sentences tagged in N processes, written in input order, memory flat.

The input is read (and raw text segmented) in the calling process; chunks of sentence records go
to worker processes, each with its own copy of the model, which tag and format them; the
formatted chunks come back in input order. At most two chunks per worker are in flight, so a
file of any size holds only those in memory. Workers are spawned, not forked: a fork of a
process whose OpenMP threads have run can hang. On GPUs each worker has a card of its own: N
processes sharing one card would only queue behind each other for it. Ctrl-C at a terminal
reaches the whole process group; workers ignore it, so this process alone stops them and says
what was kept.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

import torch

from tagger.errors import TaggerError
from tagger.inference.documents import OUTPUT_FORMATS, TaggedSentence

CHUNK_SENTENCES = 500  # per task: large enough that the hand-over costs little against the tagging
_tagger = None  # the model of this worker process, loaded once by `_load`


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, as `taskset` sets it, where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_threads(workers: int) -> int:
    """Torch threads per worker: the usable cores shared out, at least one."""
    return max(1, usable_cores() // workers)


def worker_devices(asked: str, device: torch.device, workers: int) -> list[str] | None:
    """The device of each of `workers` processes: None on the CPU (all share it), else one GPU each.

    `asked` is the --device the user gave and `device` what it resolved to; a TaggerError where
    there are fewer GPUs than workers, or one GPU was named for several workers.
    """
    if device.type == "cpu":
        return None
    if asked.startswith("cuda:"):
        raise TaggerError(f"--workers {workers} --device {asked}: one worker per GPU, and {asked} is one GPU; "
                          f"use --device cuda for one worker on each GPU, or --device cpu for {workers} CPU workers")
    visible = torch.cuda.device_count()
    if workers > visible:
        raise TaggerError(f"--workers {workers} --device {asked}: one worker per GPU, and {visible} visible; "
                          f"use --workers {visible}, or --device cpu for {workers} CPU workers")
    return [f"cuda:{index}" for index in range(workers)]


@contextlib.contextmanager
def _started_processes_ignore_ctrl_c() -> Iterator[None]:
    """Processes started inside ignore SIGINT: an ignored signal stays ignored across exec, and Python
    installs its KeyboardInterrupt handler only where it is not (the pool starts workers on submit)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread sets handlers
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _load(load_options: dict, devices: multiprocessing.Queue | None) -> None:
    global _tagger
    from tagger.inference.tagger import Tagger
    from tagger.prediction.precision import ieee_float32_in_this_process

    ieee_float32_in_this_process()  # as the command's own process
    _tagger = Tagger.load(**(load_options if devices is None else {**load_options, "device": devices.get()}))


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
    devices: list[str] | None = None,
) -> Iterator[str]:
    """The formatted output of `sentences`, chunk by chunk in input order, tagged by `workers` processes
    that each load `Tagger.load(**load_options)`, each on its own of `devices` where given."""
    context = multiprocessing.get_context("spawn")
    queue = None
    if devices is not None:  # each worker takes one device as it starts
        queue = context.Queue()
        for device in devices:
            queue.put(device)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_load, initargs=(load_options, queue))
    pending: deque[Future[str]] = deque()
    iterator = iter(sentences)
    try:
        while chunk := list(itertools.islice(iterator, chunk_sentences)):
            with _started_processes_ignore_ctrl_c():
                pending.append(pool.submit(_tag_chunk, chunk, output_format, probabilities, top_k))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
