"""Sentences -> tensors, once; then cheap, length-bucketed, token-budgeted batches.

Every sentence is encoded a single time into id tensors. Each word form of a corpus gets an
id into a table of character sequences, so a batch only gathers rows: the character-level
embedding then runs once per *unique* form in the batch (the `form_index` maps positions back).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from tagger.data.conllu_io import Sentence
from tagger.data.vocab import Vocab, Vocabularies

BOW, EOW = "<bow>", "<eow>"
MAX_WORD_CHARS = 32  # longer forms keep their first and last 16 characters


def build_vocabularies(sentences: Sequence[Sentence], columns: Sequence[str], min_word_freq: int) -> Vocabularies:
    word_counts: Counter[str] = Counter()
    char_counts: Counter[str] = Counter()
    tag_counts: dict[str, Counter[str]] = {column: Counter() for column in columns}
    for sentence in sentences:
        forms = sentence.forms
        word_counts.update(forms)
        for column in columns:
            tag_counts[column].update(sentence.column(column))
    for form, count in word_counts.items():
        for char in form:
            char_counts[char] += count
    chars = Vocab([BOW, EOW] + [c for c, _ in char_counts.most_common()])
    return Vocabularies(
        words=Vocab.from_counts(word_counts, min_word_freq),
        chars=chars,
        tags={column: Vocab.from_counts(counts) for column, counts in tag_counts.items()},
    )


def clip_form(form: str) -> str:
    if len(form) <= MAX_WORD_CHARS:
        return form
    half = MAX_WORD_CHARS // 2
    return form[:half] + form[-half:]


def encode_forms(forms: Sequence[str], chars: Vocab) -> tuple[Tensor, Tensor]:
    """Character ids of each form between begin/end markers, padded: ([n, max_len], lengths [n])."""
    bow, eow = chars.index(BOW), chars.index(EOW)
    encoded = [[bow, *chars.indices(clip_form(form)), eow] for form in forms]
    lengths = torch.tensor([len(ids) for ids in encoded], dtype=torch.long)
    table = torch.zeros(len(encoded), int(lengths.max()) if encoded else 2, dtype=torch.long)
    # one tensor for all ids, scattered row-major into the padded table: no per-form tensor
    table[torch.arange(table.shape[1]) < lengths[:, None]] = torch.tensor([i for ids in encoded for i in ids], dtype=torch.long)
    return table, lengths


@dataclass
class EncodedCorpus:
    """A corpus as tensors: per-sentence word/form/tag ids and one character table for its forms."""

    word_ids: list[Tensor]
    form_ids: list[Tensor]
    tag_ids: dict[str, list[Tensor]]
    form_chars: Tensor
    form_lengths: Tensor

    def __len__(self) -> int:
        return len(self.word_ids)

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.word_ids]


def encode_corpus(sentences: Sequence[Sentence], vocabs: Vocabularies, columns: Sequence[str] = ()) -> EncodedCorpus:
    form_table: dict[str, int] = {}
    form_ids, word_ids = [], []
    tag_ids: dict[str, list[Tensor]] = {column: [] for column in columns}
    for sentence in sentences:
        forms = sentence.forms
        form_ids.append(torch.tensor([form_table.setdefault(f, len(form_table)) for f in forms], dtype=torch.long))
        word_ids.append(torch.tensor(vocabs.words.indices(forms), dtype=torch.long))
        for column in columns:
            tag_ids[column].append(torch.tensor(vocabs.tags[column].indices(sentence.column(column)), dtype=torch.long))
    form_chars, form_lengths = encode_forms(list(form_table), vocabs.chars)
    return EncodedCorpus(word_ids, form_ids, tag_ids, form_chars, form_lengths)


def collate(corpus: EncodedCorpus, indices: Sequence[int]) -> dict[str, Tensor]:
    """A padded batch; `form_chars` holds each distinct form of the batch once."""
    lengths = torch.tensor([len(corpus.word_ids[i]) for i in indices], dtype=torch.long)
    pad = torch.nn.utils.rnn.pad_sequence
    form_ids = pad([corpus.form_ids[i] for i in indices], batch_first=True)
    mask = torch.arange(form_ids.shape[1]) < lengths[:, None]
    unique_forms, form_index = torch.unique(form_ids[mask], return_inverse=True)
    batch_form_index = torch.zeros_like(form_ids)
    batch_form_index[mask] = form_index
    form_lengths = corpus.form_lengths[unique_forms]
    batch = {
        "words": pad([corpus.word_ids[i] for i in indices], batch_first=True),
        "lengths": lengths,
        "form_index": batch_form_index,
        "form_chars": corpus.form_chars[unique_forms, : int(form_lengths.max())],
        "form_lengths": form_lengths,
    }
    for column, ids in corpus.tag_ids.items():
        batch[f"tags.{column}"] = pad([ids[i] for i in indices], batch_first=True)
    return batch


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
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0
        for index in order:
            longest_if_added = max(longest, self.lengths[index])
            if current and longest_if_added * (len(current) + 1) > self.max_tokens:
                batches.append(current)
                current, longest_if_added = [], self.lengths[index]
            current.append(index)
            longest = longest_if_added
        if current:
            batches.append(current)
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
