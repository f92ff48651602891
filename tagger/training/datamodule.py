"""LightningDataModule: reads the data files (CoNLL-U, UNER or column files), owns the vocabularies and serves batches
(encoded and bucketed by `tagger.model`, the same way inference does)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from tagger.data.conllu_io import Sentence
from tagger.data.readers import is_annotated, read_data
from tagger.data.vocab import Vocabularies, build_vocabularies
from tagger.errors import DataFormatError, TaggerError
from tagger.training.sampler import TokenBudgetBatchSampler
from tagger.model.encoding import EncodedSentences, collate, encode_sentences
from tagger.training.config_schema import DataConfig

log = logging.getLogger(__name__)


class _Indices(list):
    """A map-style dataset of sentence indices; batches are assembled in `collate`."""


class TaggingDataModule(pl.LightningDataModule):
    """Train/dev/test files as encoded corpora, served in token-budgeted, length-bucketed batches."""

    def __init__(self, config: DataConfig, max_word_chars: int, seed: int) -> None:
        """`config` is the checked `data` section; `max_word_chars` is the model's encoding constant."""
        super().__init__()
        self.config = config
        self.paths = {"train": config.train, "dev": config.dev, "test": config.test}
        self.columns = list(config.columns)
        self.max_word_chars = max_word_chars
        self.seed = seed
        self.vocabs: Vocabularies | None = None
        self.sentences: dict[str, list[Sentence]] = {}
        self.corpora: dict[str, EncodedSentences] = {}
        self._train_sampler: TokenBudgetBatchSampler | None = None
        self._resume_state: dict[str, int] = {}

    def read(self, split: str) -> list[Sentence]:
        """The sentences of a split (`train`, `dev`, `test`), read once."""
        if split not in self.sentences:
            path = self.paths[split]
            if path is None:
                raise TaggerError(f"data.{split} is not set")
            if not Path(path).is_file():
                raise DataFormatError(str(path), None, f"data.{split}: no such file")
            config = self.config
            self.sentences[split] = read_data(path, config.format, config.fields, config.scheme, self.columns)
            self._check_columns(split)
        return self.sentences[split]

    def _check_columns(self, split: str) -> None:
        sentence = self.sentences[split][0]
        for column in self.columns:
            try:
                sentence.column(column)
            except ValueError as error:
                raise TaggerError(f"data.columns: {error}") from None

    def build_vocabularies(self) -> Vocabularies:
        """Vocabularies come from train alone, before the network is built (it needs their sizes)."""
        if self.vocabs is None:
            self._drop_unannotated_columns()
            self.vocabs = build_vocabularies(self.read("train"), self.columns, self.config.min_word_freq)
            sizes = ", ".join(f"{c} {len(v)}" for c, v in self.vocabs.tags.items())
            log.info("vocabularies: %d words, %d chars; tags: %s", len(self.vocabs.words), len(self.vocabs.chars), sizes)
        return self.vocabs

    def _drop_unannotated_columns(self) -> None:
        """A column that is `_` throughout train (XPOS in fr_sequoia and tr_atis) is not learned: its head
        could only learn to say `_`, and its dev accuracy would be a meaningless 100."""
        train = self.read("train")
        unannotated = [column for column in self.columns if not is_annotated(column, train)]
        if len(unannotated) == len(self.columns):
            raise TaggerError(f"{self.config.train}: data.columns={self.columns}: every one is `_` throughout: nothing to learn")
        if unannotated:
            log.warning("data.columns: %s `_` throughout %s: not learned", ", ".join(unannotated), self.config.train)
            self.columns = [column for column in self.columns if column not in unannotated]

    def corpus(self, split: str) -> EncodedSentences:
        if split not in self.corpora:
            sentences, vocabs = self.read(split), self.build_vocabularies()
            tags = {column: [vocabs.targets(sentence, column) for sentence in sentences] for column in self.columns}
            encoded = encode_sentences([sentence.forms for sentence in sentences], vocabs, self.max_word_chars, tags)
            self.corpora[split] = encoded.with_characters(vocabs.chars)
        return self.corpora[split]

    def setup(self, stage: str | None = None) -> None:
        self.build_vocabularies()
        splits = {"fit": ["train", "dev"], "validate": ["dev"], "test": ["test"]}.get(stage or "fit", [])
        for split in splits:
            if self.paths[split] is not None:
                self.corpus(split)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        corpus = self.corpus(split)
        trainer = self.trainer
        sampler = TokenBudgetBatchSampler(
            corpus.lengths.tolist(),
            self.config.max_tokens if shuffle else self.config.eval_max_tokens,
            shuffle=shuffle,
            seed=self.seed,
            num_replicas=trainer.world_size if trainer else 1,
            rank=trainer.global_rank if trainer else 0,
        )
        if shuffle:
            self._train_sampler = sampler
            if self._resume_state:
                sampler.load_state_dict(self._resume_state)
        # a loader draws a seed from its generator for every iterator: a generator of its own keeps
        # that draw off the global one, whose state checkpoints restore (see RandomStateCheckpoint).
        # For a GPU, batches come in pinned memory, so their copy runs beside the computation. No
        # worker processes: a batch is collated in a few milliseconds on one core, against about 40
        # for a step on an H200 (49 en_ewt epochs in 4 minutes), and workers would draw batches from
        # the sampler ahead of training, so a checkpoint would count batches never trained on and a
        # resumed run would skip them.
        return DataLoader(
            _Indices(range(len(corpus))),
            batch_sampler=sampler,
            collate_fn=functools.partial(collate, corpus),
            generator=torch.Generator().manual_seed(self.seed),
            pin_memory=trainer is not None and trainer.strategy.root_device.type == "cuda",
        )

    def state_dict(self) -> dict[str, int]:
        """Where training stands in its epoch; in every checkpoint, so a resumed run skips what it trained on."""
        return self._train_sampler.state_dict() if self._train_sampler else {}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._resume_state = state_dict

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("dev", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
