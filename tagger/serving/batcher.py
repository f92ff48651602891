"""One thread does every request's tagging: requests that arrive together are tagged in one `Tagger.pipe` call.

The event loop only reads requests and writes answers; the torch work runs here, so the server keeps
answering (`/health`, new connections) while a batch is tagged. The thread takes the first waiting job,
then whatever else arrives within `wait` seconds (up to `max_texts` texts), and tags each group of those
jobs that share a model and options in one `pipe` call: many small requests cost about what `pipe` over
all their texts costs. A job's documents are rendered (`render`) here too, into what its answer holds.
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
from tagger.inference.documents import TaggedDocument
from tagger.inference.readers import read_input
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
        """What jobs tagged in one `pipe` call must share."""
        return self.model, self.input_format, self.probabilities, self.top_k, self.tag


class Batcher:
    """The tagging thread and its queue; `submit` from any thread, `stop` once no more jobs come."""

    def __init__(self, taggers: dict[str, Tagger], wait: float = 0.002, max_texts: int = 256) -> None:
        self.taggers = taggers
        self.wait = wait
        self.max_texts = max_texts
        self.batches = 0  # pipe calls made: how much batching there was, for /health
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="tagger-batcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> Future:
        self._queue.put(job)
        return job.future

    def stop(self) -> None:
        """Tag every job already submitted, then end the thread."""
        self._queue.put(None)
        self._thread.join()

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
        texts = [text for job in jobs for text in job.texts]
        if first.tag:
            documents = list(tagger.pipe(texts, batch_size=self.max_texts, input_format=first.input_format,
                                         probabilities=first.probabilities, top_k=first.top_k))
        else:
            documents = [TaggedDocument(list(read_input(io.BytesIO(text.encode("utf-8")), "<data>", first.input_format,
                                                        lambda: tagger.tokenizer))) for text in texts]
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
