"""Tagging threads do every request's tagging: requests that arrive together are tagged together.

The event loop only reads requests and writes answers; the torch work runs here, so the server keeps
answering (`/health`, new connections) while a batch is tagged. `workers` threads share one queue and
the models (a `Tagger` is safe to share), each running its own batches: on a CPU one thread a core,
each with one torch thread, because torch's intra-op threads synchronise at every step of the network
and a server's batches are small (en_ewt dev under 32 clients, 2 cores: 1 thread of 2 torch threads
tagged 1,877 words/s, 1 of 1 torch thread 7,096; see docs/serving.md). A thread takes the first waiting job,
then whatever else arrives within `wait` seconds (up to `max_texts` texts), and tags each group of those
jobs that share a model and options together: each text is read and segmented alone, exactly as
`Tagger.tag` reads it, and the sentences of all of them are predicted in one `Tagger.tag_stream`, where
the time goes. (`Tagger.pipe` segments its texts joined, and the learned segmenter's windows then fall
differently: 7 of en_ewt dev's 201 ten-sentence documents split otherwise than alone, so an answer would
depend on its neighbours. Alone costs about 6 % more than joined.) A job's documents are rendered
(`render`) here too, into what its answer holds.
"""

from __future__ import annotations

import io
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from tagger.errors import TaggerError
from tagger.inference.documents import TaggedDocument, TaggedSentence
from tagger.inference.readers import INPUT_FORMATS, read_input
from tagger.inference.tagger import Tagger

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Job:
    """Texts to tag with one model and one set of options; `future` receives `render(documents)` or the error."""

    model: str
    texts: list[str]
    render: Callable[[list[TaggedDocument]], Any]
    input_format: str = "auto"
    probabilities: bool = False
    top_k: int = 0
    tag: bool = True  # False: read and segment only (UDPipe's /process without `tagger`)
    future: Future = field(default_factory=Future)

    @property
    def options(self) -> tuple:
        """What jobs tagged together must share."""
        return self.model, self.input_format, self.probabilities, self.top_k, self.tag


class Batcher:
    """The tagging thread and its queue; `submit` from any thread, `stop` once no more jobs come."""

    def __init__(self, taggers: dict[str, Tagger], wait: float = 0.002, max_texts: int = 256, workers: int = 1) -> None:
        if workers < 1:
            raise TaggerError(f"tagging threads: {workers}: give 1 or more")
        self.taggers = taggers
        self.wait = wait
        self.max_texts = max_texts
        self.batches = 0  # groups tagged: how much batching there was, for /health
        self._count_lock = threading.Lock()
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, name=f"tagger-batcher-{i}", daemon=True)
                         for i in range(workers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job) -> Future:
        self._queue.put(job)
        return job.future

    def stop(self) -> None:
        """Tag every job already submitted, then end the threads (each ends at the first None it takes)."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            jobs, stopping = self._collect(first)
            groups: dict[tuple, list[Job]] = {}
            for job in jobs:
                groups.setdefault(job.options, []).append(job)
            for group in groups.values():
                self._process(group)

    def _collect(self, first: Job) -> tuple[list[Job], bool]:
        """`first` and the jobs that arrive within `wait` of it, up to `max_texts` texts; and whether to stop."""
        jobs, texts = [first], len(first.texts)
        deadline = time.monotonic() + self.wait
        while texts < self.max_texts:
            try:
                job = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
            texts += len(job.texts)
        return jobs, False

    def _process(self, jobs: list[Job]) -> None:
        """Tag the jobs' texts together; when that fails, each job alone, so one bad text fails only its request."""
        live = [job for job in jobs if job.future.set_running_or_notify_cancel()]  # not those given up on
        if not live:
            return
        try:
            self._tag(live)
        except Exception as error:  # noqa: BLE001 - handed to the request(s)
            if len(live) == 1:
                self._fail(live[0], error)
                return
            for job in live:
                try:
                    self._tag([job])
                except Exception as error:  # noqa: BLE001 - handed to the request
                    self._fail(job, error)

    def _tag(self, jobs: list[Job]) -> None:
        first = jobs[0]
        tagger = self.taggers[first.model]
        sentences = [read(tagger, text, first.input_format, f"<text {i}>" if len(job.texts) > 1 else "<text>")
                     for job in jobs for i, text in enumerate(job.texts)]
        if first.tag:
            for _ in tagger.tag_stream(itertools.chain.from_iterable(sentences), first.probabilities, top_k=first.top_k):
                pass  # tagged in place
        documents = [TaggedDocument(document) for document in sentences]
        with self._count_lock:
            self.batches += 1
        results = []
        offsets = list(itertools.accumulate((len(job.texts) for job in jobs), initial=0))
        for job, start, end in zip(jobs, offsets, offsets[1:]):
            results.append(job.render(documents[start:end]))
        for job, result in zip(jobs, results):  # rendered all before any is answered: a render error retries each
            job.future.set_result(result)

    @staticmethod
    def _fail(job: Job, error: Exception) -> None:
        """A TaggerError is the request's fault (its answer says why); anything else is logged here, whole."""
        if not isinstance(error, TaggerError):
            log.error("tagging failed", exc_info=error)
        job.future.set_exception(error)


def read(tagger: Tagger, text: str, input_format: str, source: str) -> list[TaggedSentence]:
    """The untagged sentences of one text, read as `Tagger.tag` reads a string."""
    if input_format != "auto" and input_format not in INPUT_FORMATS:
        raise TaggerError(f"unknown input format {input_format!r}: use auto, {', '.join(INPUT_FORMATS)}")
    return list(read_input(io.BytesIO(text.encode("utf-8")), source, input_format, lambda: tagger.tokenizer))
