"""Sentences -> the network's input tensors: the one batch encoding of training and inference.

Sentences are encoded once into flat id tensors (`encode_sentences`); a batch then only
gathers rows (`collate`). Each distinct word form gets a row in a table of character
sequences, so the character-level embedding runs once per *unique* form of a batch, and
`form_index` maps every position back to its form. Training encodes a whole corpus once and
collates many batches from it; inference encodes each batch as it comes.

`max_word_chars` is an encoding constant the network was trained with: the model file
records it, and inference reads it from there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from tagger.data.vocab import BOW, EOW, Vocab, Vocabularies

DEFAULT_MAX_WORD_CHARS = 32  # what model files written before the limit was recorded were trained with


def clip_form(form: str, max_chars: int) -> str:
    """Longer forms keep their first and last `max_chars / 2` characters: affixes carry the signal."""
    if len(form) <= max_chars:
        return form
    half = max_chars // 2
    return form[:half] + form[-half:]


def encode_forms(forms: Sequence[str], chars: Vocab) -> tuple[Tensor, Tensor]:
    """Character ids of each (already clipped) form between begin/end markers, padded: ([n, max_len], lengths [n])."""
    bow, eow = chars.index(BOW), chars.index(EOW)
    encoded = [[bow, *chars.indices(form), eow] for form in forms]
    lengths = torch.tensor([len(ids) for ids in encoded], dtype=torch.long)
    table = torch.zeros(len(encoded), int(lengths.max()) if encoded else 2, dtype=torch.long)
    # one tensor for all ids, scattered row-major into the padded table: no per-form tensor
    table[torch.arange(table.shape[1]) < lengths[:, None]] = torch.tensor([i for ids in encoded for i in ids], dtype=torch.long)
    return table, lengths


@dataclass
class EncodedSentences:
    """Sentences as flat id tensors (all words one after another) and the table of their distinct forms."""

    lengths: Tensor  # [sentences]
    offsets: Tensor  # [sentences]: where each sentence starts in the flat tensors
    word_ids: Tensor  # [words]
    form_ids: Tensor  # [words]: row of `forms`
    tag_ids: dict[str, Tensor]  # per column, [words]
    forms: list[str]  # distinct clipped forms
    form_chars: Tensor | None = None  # [forms, chars], from `with_characters`
    form_lengths: Tensor | None = None

    def __len__(self) -> int:
        return len(self.lengths)

    def with_characters(self, chars: Vocab) -> EncodedSentences:
        """Encode the characters of every form once (training reuses them for every batch)."""
        self.form_chars, self.form_lengths = encode_forms(self.forms, chars)
        return self


def encode_sentences(
    forms: Sequence[Sequence[str]],
    vocabs: Vocabularies,
    max_word_chars: int,
    tags: Mapping[str, Sequence[Sequence[str]]] | None = None,
) -> EncodedSentences:
    """Word, form and (for training) tag ids of sentences given as lists of forms (`tags`: column -> per-sentence tags)."""
    flat = [form for sentence in forms for form in sentence]
    lengths = torch.tensor([len(sentence) for sentence in forms], dtype=torch.long)
    table: dict[str, int] = {}
    form_ids = [table.setdefault(clip_form(form, max_word_chars), len(table)) for form in flat]
    tag_ids = {
        column: torch.tensor(vocabs.tags[column].indices([tag for sentence in values for tag in sentence]), dtype=torch.long)
        for column, values in (tags or {}).items()
    }
    return EncodedSentences(
        lengths=lengths,
        offsets=torch.cumsum(lengths, 0) - lengths,
        word_ids=torch.tensor(vocabs.words.indices(flat), dtype=torch.long),
        form_ids=torch.tensor(form_ids, dtype=torch.long),
        tag_ids=tag_ids,
        forms=list(table),
    )


def collate(encoded: EncodedSentences, indices: Sequence[int]) -> dict[str, Tensor]:
    """A padded batch of the sentences at `indices`.

    `forms` lists the rows of `encoded.forms` the batch uses, each once, and `form_index` points
    every position at its entry there; with characters encoded, `form_chars`/`form_lengths`
    hold those forms' characters (the network's CLE input). Tag columns come as `tags.COLUMN`.
    """
    rows = torch.as_tensor(indices, dtype=torch.long)
    lengths = encoded.lengths[rows]
    width = int(lengths.max())
    mask = torch.arange(width) < lengths[:, None]
    flat = (encoded.offsets[rows][:, None] + torch.arange(width))[mask]
    words = torch.zeros(len(rows), width, dtype=torch.long)
    words[mask] = encoded.word_ids[flat]
    forms, inverse = torch.unique(encoded.form_ids[flat], return_inverse=True)
    form_index = torch.zeros_like(words)
    form_index[mask] = inverse
    batch = {"words": words, "lengths": lengths, "form_index": form_index, "forms": forms}
    if encoded.form_chars is not None:
        form_lengths = encoded.form_lengths[forms]
        batch["form_chars"] = encoded.form_chars[forms, : int(form_lengths.max())]
        batch["form_lengths"] = form_lengths
    for column, ids in encoded.tag_ids.items():
        tags = torch.zeros_like(words)
        tags[mask] = ids[flat]
        batch[f"tags.{column}"] = tags
    return batch
