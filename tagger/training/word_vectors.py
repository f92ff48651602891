"""Pretrained word vectors (word2vec, GloVe or fastText text files) for the word embedding table.

The vectors only initialise the table: they are trained further and saved in the model file
like any other weight, so inference never needs the vector file. The file's vectors are
scaled by one global factor to the table's initial standard deviation, so pretrained rows
and randomly initialised rows (words the file lacks) start on the same scale.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import Tensor

from tagger.data.vocab import Vocab, Vocabularies
from tagger.errors import DataFormatError, TaggerError

log = logging.getLogger(__name__)


@dataclasses.dataclass
class WordVectors:
    """Words of a vector file (first occurrence wins) and their vectors, [words, dim]."""

    words: list[str]
    vectors: Tensor

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def initialise(self, weight: Tensor, vocab: Vocab) -> int:
        """Copy vectors into rows of `weight` for vocabulary words (or their lower-cased form); return how many."""
        index = {word: i for i, word in enumerate(self.words)}
        scale = float(weight.detach()[2:].std()) / max(float(self.vectors.std()), 1e-8)
        found = 0
        with torch.no_grad():
            for row, word in enumerate(vocab.itos[2:], start=2):
                source = index.get(word, index.get(word.lower()))
                if source is not None:
                    weight[row] = self.vectors[source] * scale
                    found += 1
        return found


def _is_header(parts: list[str]) -> bool:
    return len(parts) == 2 and all(part.isdigit() for part in parts)


def read_word_vectors(path: str | Path, keep: Callable[[str], bool] | None = None, max_words: int | None = None) -> WordVectors:
    """Read a text vector file: `word v1 ... vD` per line, optionally after a `count dim` header line.

    Only words for which `keep` is true are stored (memory stays small for big files); `max_words`
    stops after the file's first N vectors. A word may contain spaces (GloVe has some): the last
    D fields are the vector.
    """
    source = str(path)
    if not Path(source).is_file():
        raise DataFormatError(source, None, "no such word-vector file")
    words: list[str] = []
    rows: list[list[float]] = []
    seen: set[str] = set()
    dim = None
    read = 0
    with open(source, encoding="utf-8", errors="replace") as stream:
        for number, line in enumerate(stream, start=1):
            parts = line.rstrip("\n\r").rstrip(" ").split(" ")
            if number == 1 and _is_header(parts):
                dim = int(parts[1])
                continue
            if not line.strip():
                continue
            if dim is None:
                dim = len(parts) - 1
            if len(parts) < dim + 1 or dim < 1:
                raise DataFormatError(source, number, f"expected a word and {dim} numbers, found {len(parts)} fields")
            word = " ".join(parts[:-dim])
            read += 1
            if word not in seen and (keep is None or keep(word)):
                try:
                    rows.append([float(value) for value in parts[-dim:]])
                except ValueError:
                    raise DataFormatError(source, number, "a vector value is not a number") from None
                words.append(word)
                seen.add(word)
            if max_words is not None and read >= max_words:
                break
    if dim is None or not words:
        raise DataFormatError(source, None, "no usable word vectors in the file")
    return WordVectors(words, torch.tensor(rows, dtype=torch.float32))


def prepare_word_vectors(model: Mapping, vocabs: Vocabularies) -> tuple[Vocabularies, WordVectors | None]:
    """Read `model.word_embeddings.pretrained`, if set; extend the word vocabulary with its words if asked.

    Vocabulary extension must happen before the network is built (the table's size depends on
    it) and before the data is encoded (so dev words found only in the file get their vectors).
    """
    options = dict(model.get("word_embeddings") or {})
    path = options.get("pretrained")
    if not path:
        return vocabs, None
    extend = bool(options.get("extend_vocab", False))
    known = vocabs.words.stoi
    wanted = None if extend else set(known) | {word.lower() for word in known}  # a word or its lower-cased form
    vectors = read_word_vectors(path, None if wanted is None else wanted.__contains__, options.get("max_vectors"))
    if vectors.dim != model["word_dim"]:
        raise TaggerError(
            f"model.word_embeddings.pretrained={path} holds {vectors.dim}-dimensional vectors, but "
            f"model.word_dim={model['word_dim']}: set model.word_dim={vectors.dim}"
        )
    if extend:
        added = [word for word in vectors.words if word not in known]
        vocabs = dataclasses.replace(vocabs, words=Vocab(vocabs.words.to_list() + added))
        log.info("word vocabulary extended by %d words from %s", len(added), path)
    log.info("read %d word vectors of dimension %d from %s", len(vectors.words), vectors.dim, path)
    return vocabs, vectors
