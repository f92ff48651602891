"""The full tagging network: word + character embeddings -> residual BiLSTM -> one head per column."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from tagger.data.vocab import Vocabularies
from tagger.model.char_encoders import build_char_encoder
from tagger.model.encoding import clip_form, encode_forms
from tagger.model.residual_lstm import ResidualBiLSTM, SharedDropout
from tagger.model.word_embedding import WordEmbedding


class TaggerNetwork(nn.Module):
    """Plain nn.Module, usable without Lightning. Never sees strings: only id tensors.

    `config` is the `model` section of the training config (a plain dict, checked by the config
    schema when training starts), so a model file can rebuild the network without running any
    code named in the file.
    """

    def __init__(self, config: Mapping, num_words: int, num_chars: int, tag_sizes: Mapping[str, int]) -> None:
        super().__init__()
        self.config = dict(config)
        self.words = WordEmbedding(num_words, config["word_dim"], config["word_dropout"])
        self.cle = build_char_encoder(dict(config["cle"]), num_chars)
        input_dim = config["word_dim"] + self.cle.output_dim
        self.input_dropout = SharedDropout(config["dropout"])
        encoder = config["encoder"]
        self.encoder = ResidualBiLSTM(input_dim, encoder["hidden_size"], encoder["layers"], config["dropout"])
        self.output_dropout = nn.Dropout(config["dropout"])
        self.heads = nn.ModuleDict({column: nn.Linear(self.encoder.output_dim, size) for column, size in tag_sizes.items()})

    def embed_forms(self, form_chars: Tensor, form_lengths: Tensor) -> Tensor:
        """One CLE vector per row of `form_chars` (each a distinct word form)."""
        return self.cle(form_chars, form_lengths)

    @torch.inference_mode()
    def vocabulary_form_table(self, vocabs: Vocabularies, max_rows: int, batch_forms: int = 2048) -> Tensor:
        """[rows, cle dim]: the CLE of the first `max_rows` word-vocabulary forms (the most frequent;
        rows 0-1, <pad>/<unk>, are zero).

        Stored in the model file, so that at inference the known words -- most running text -- skip
        the character encoder entirely (`tagger.prediction.predictor.FormEmbeddingCache`).
        """
        was_training = self.training
        self.eval()
        device = self.words.embedding.weight.device  # a network just trained on a GPU is still there
        forms = [clip_form(form, self.config["max_word_chars"]) for form in vocabs.words.itos[2:max_rows]]
        rows = [self.embed_forms(*(t.to(device) for t in encode_forms(forms[i : i + batch_forms], vocabs.chars))).float().cpu()
                for i in range(0, len(forms), batch_forms)]
        self.train(was_training)
        return torch.cat([torch.zeros(2, self.cle.output_dim), *rows])

    def forward(
        self,
        words: Tensor,
        lengths: Tensor,
        form_index: Tensor,
        form_chars: Tensor | None = None,
        form_lengths: Tensor | None = None,
        form_embeddings: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Logits per column, [batch, time, tags]. Pass `form_embeddings` to reuse cached CLEs."""
        if form_embeddings is None:
            form_embeddings = self.embed_forms(form_chars, form_lengths)
        x = torch.cat([self.words(words), form_embeddings[form_index]], dim=-1)
        hidden = self.output_dropout(self.encoder(self.input_dropout(x), lengths))
        return {column: head(hidden) for column, head in self.heads.items()}


def build_network(config: Mapping, vocabs: Vocabularies) -> TaggerNetwork:
    """The network for `config` (the `model` config section) sized by the vocabularies: one head per tag column."""
    return TaggerNetwork(config, len(vocabs.words), len(vocabs.chars), {column: len(v) for column, v in vocabs.tags.items()})
