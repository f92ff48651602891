"""The training batch sampler: token-budgeted batches of similar-length sentences, reshuffled every epoch."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

from tagger.model.bucketing import token_budget_batches


class TokenBudgetBatchSampler:
    """Batches of similar-length sentences whose padded size stays within `max_tokens`.

    Sorting by length buckets sentences; ties are broken at random, so which sentences share a
    batch, and the order of batches, change from epoch to epoch while their number never does
    (Lightning counts an epoch's batches once and validates after the last of them; a schedule
    and a resumed run count on it too). With several processes (DDP), training batches are dealt out so that
    every rank gets the same number (gradient sync needs it); for evaluation the sentences are
    dealt out instead, so each is scored exactly once.

    The sampler is resumable: its state is the epoch and how many of its batches were handed
    out, so a run resumed mid-epoch skips the batches it had already trained on.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        max_tokens: int,
        shuffle: bool,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        self.lengths = list(lengths)
        self.max_tokens = max_tokens
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.served = 0  # batches handed out by the current iteration
        self._skip = 0  # batches of `epoch` already trained on before a resume

    @property
    def sampler(self) -> TokenBudgetBatchSampler:
        """Lightning calls `set_epoch` on `loader.batch_sampler.sampler`, never on the batch sampler itself."""
        return self

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self._skip = 0
        self.epoch = epoch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "served": self.served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self._skip = state["epoch"], state["served"]

    def _batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        ties = [rng.random() for _ in self.lengths] if self.shuffle else [0.0] * len(self.lengths)
        order = sorted(range(len(self.lengths)), key=lambda i: (self.lengths[i], ties[i]))
        if self.num_replicas > 1 and not self.shuffle:
            order = order[self.rank :: self.num_replicas]
        batches = token_budget_batches(order, self.lengths, self.max_tokens)
        if self.shuffle:
            rng.shuffle(batches)
        if self.num_replicas > 1 and self.shuffle:
            per_rank = math.ceil(len(batches) / self.num_replicas)
            batches += batches[: per_rank * self.num_replicas - len(batches)]
            batches = batches[self.rank :: self.num_replicas]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        # a generator: nothing is computed before the first batch is asked for, after `set_epoch`
        skip, self._skip = self._skip, 0
        self.served = skip
        for batch in self._batches()[skip:]:
            self.served += 1
            yield batch

    def __len__(self) -> int:
        return len(self._batches())
