"""Word embedding table with word dropout."""

from __future__ import annotations

import torch
from torch import Tensor, nn

UNK_ID = 1


class WordEmbedding(nn.Module):
    """Lookup over the training vocabulary. In training, each word becomes `<unk>` with
    probability `word_dropout`, so the network learns to lean on the character embedding
    for rare and unseen words."""

    def __init__(self, num_words: int, dim: int, word_dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_words, dim, padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=dim**-0.5)
        self.embedding.weight.data[0].zero_()
        self.word_dropout = word_dropout

    def forward(self, words: Tensor) -> Tensor:
        if self.training and self.word_dropout > 0:
            drop = (words != 0) & (words.new_empty(words.shape, dtype=torch.float).bernoulli_(self.word_dropout) > 0)
            words = words.masked_fill(drop, UNK_ID)
        return self.embedding(words)
