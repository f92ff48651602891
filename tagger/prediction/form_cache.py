"""Character-level embeddings kept per word form across batches, so a form runs through the
character encoder once: a table over the word vocabulary (the model file's stored rows from the
start, the others filled the first time their form is seen) and a bounded LRU for other forms.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import Tensor

from tagger.data.vocab import Vocab


class FormEmbeddingCache:
    """CLE vectors of word forms, kept across batches; counts hits and misses.

    Two independent parts: `table` (the default) gives each form of the word vocabulary a row,
    so the run of frequent words costs one gather, not a Python step per form; `capacity` bounds
    an LRU for every other form (0: those are computed afresh each time). With neither, every
    CLE is computed afresh. One lock guards it all, so threads sharing a tagger share its cache;
    the LRU keeps copies, never views that would keep a whole batch's tensor alive.
    """

    def __init__(
        self, capacity: int, vocabulary: Vocab | None = None, stored: Tensor | None = None, table: bool = True
    ) -> None:
        self.capacity = capacity
        self.vectors: OrderedDict[str, Tensor] = OrderedDict()
        self.vocabulary = vocabulary if table else None
        self.table: Tensor | None = None  # [vocabulary, dim]: a form's row is valid once `filled`
        self.filled = torch.zeros(len(self.vocabulary) if self.vocabulary else 2, dtype=torch.bool)
        self.stored = stored if self.vocabulary is not None else None
        self.hits = self.misses = 0
        self._lock = threading.Lock()
        self._restore()

    def _restore(self) -> None:
        """The table as loaded: the stored rows filled, the rest empty."""
        if self.stored is None:
            self.table = None
            return
        self.table = self.stored.new_zeros(len(self.vocabulary), self.stored.shape[1])
        self.table[: len(self.stored)] = self.stored
        self.filled[: len(self.stored)] = True
        self.filled[:2] = False

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def clear(self) -> None:
        """Back to the state after loading (forms computed since are forgotten, the stored table stays)."""
        with self._lock:
            self.vectors.clear()
            self.filled.zero_()
            self._restore()
            self.hits = self.misses = 0

    def lookup(self, forms: list[str], compute: Callable[[list[str]], Tensor]) -> Tensor:
        """Vectors for `forms` (distinct), computing the missing ones with one call of `compute(missing_forms)`."""
        with self._lock:
            return self._lookup(forms, compute)

    def _lookup(self, forms: list[str], compute: Callable[[list[str]], Tensor]) -> Tensor:
        if self.vocabulary is None and self.capacity <= 0:
            self.misses += len(forms)
            return compute(forms)
        rows = torch.tensor(self.vocabulary.indices(forms) if self.vocabulary else [1] * len(forms), dtype=torch.long)
        in_table = rows > 1
        new_rows = rows[in_table & ~self.filled[rows]]
        others = [form for form, row in zip(forms, rows.tolist()) if row <= 1]
        missing = [self.vocabulary.itos[row] for row in new_rows.tolist()] if len(new_rows) else []
        uncached = [form for form in others if form not in self.vectors]
        missing += uncached
        self.misses += len(missing)
        self.hits += len(forms) - len(missing)
        computed = compute(missing) if missing else None
        if len(new_rows):
            if self.table is None:
                self.table = computed.new_zeros(len(self.vocabulary), computed.shape[1])
            self.table[new_rows] = computed[: len(new_rows)]
            self.filled[new_rows] = True
        if not others:
            return self.table[rows]
        if self.capacity > 0:
            if uncached:
                for form, vector in zip(uncached, computed[len(new_rows) :]):
                    self.vectors[form] = vector.clone()  # alone: a view would keep its whole batch alive
            for form in others:
                self.vectors.move_to_end(form)
            other_vectors = torch.stack([self.vectors[form] for form in others])
            while len(self.vectors) > self.capacity:
                self.vectors.popitem(last=False)
        else:  # nothing kept: `others` are all uncached, in order
            other_vectors = computed[len(new_rows) :]
        if len(others) == len(forms):
            return other_vectors
        vectors = self.table[rows]
        vectors[~in_table] = other_vectors
        return vectors
