"""A trained network applied to sentence records: batch, encode, run, decode, write the columns back.

This is the prediction step that tagging (`tagger.inference`) and scoring (`tagger.evaluation`)
share. Sentences go in length-sorted, token-budgeted batches under `torch.inference_mode`.
Character-level embeddings are cached per word form (bounded LRU), so frequent words skip the
character encoder after their first occurrence.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from tagger.data.conllu_io import Sentence
from tagger.model.bucketing import by_length
from tagger.model.decoding import entity_decoders, lemma_decoders
from tagger.model.encoding import collate, encode_forms, encode_sentences
from tagger.model.model_file import ModelBundle


class FormEmbeddingCache:
    """Bounded LRU cache of CLE vectors keyed by word form; counts hits and misses."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.vectors: OrderedDict[str, Tensor] = OrderedDict()
        self.hits = self.misses = 0

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def clear(self) -> None:
        self.vectors.clear()
        self.hits = self.misses = 0

    def lookup(self, forms: list[str], compute: Callable[[list[str]], Tensor]) -> Tensor:
        """Vectors for `forms` (distinct), computing the missing ones with `compute(missing_forms)`."""
        if self.capacity <= 0:
            self.misses += len(forms)
            return compute(forms)
        missing = [form for form in forms if form not in self.vectors]
        self.misses += len(missing)
        self.hits += len(forms) - len(missing)
        if missing:
            for form, vector in zip(missing, compute(missing)):
                self.vectors[form] = vector
        rows = []
        for form in forms:
            self.vectors.move_to_end(form)
            rows.append(self.vectors[form])
        while len(self.vectors) > self.capacity:
            self.vectors.popitem(last=False)
        return torch.stack(rows)


class Predictor:
    """Fills the predicted columns of `Sentence` records with a model's tags."""

    def __init__(self, bundle: ModelBundle, batch_tokens: int = 4096, cache_size: int = 50_000) -> None:
        self.bundle = bundle
        self.network = bundle.network.eval()
        self.vocabs = bundle.vocabs
        self.columns = bundle.columns
        self.entity_decoders = entity_decoders(self.vocabs.tags)  # entity columns decode to valid IOB2 spans
        self.lemma_decoders = lemma_decoders(self.vocabs)  # lemma columns decode to edit scripts that apply
        self.batch_tokens = batch_tokens
        self.cache = FormEmbeddingCache(cache_size)

    def _embed_forms(self, forms: list[str]) -> Tensor:
        return self.network.embed_forms(*encode_forms(forms, self.vocabs.chars))

    def logits(self, forms: Sequence[Sequence[str]]) -> dict[str, Tensor]:
        """Per column, [sentences, time, tags] for a batch of sentences given as lists of forms."""
        encoded = encode_sentences(forms, self.vocabs, self.bundle.max_word_chars)
        batch = collate(encoded, range(len(encoded)))
        form_embeddings = self.cache.lookup([encoded.forms[i] for i in batch["forms"].tolist()], self._embed_forms)
        return self.network(batch["words"], batch["lengths"], batch["form_index"], form_embeddings=form_embeddings)

    def batches(self, sentences: Sequence[Sentence]) -> list[list[int]]:
        """The batches `predict` forms: indices of `sentences`, by length, within the token budget."""
        return by_length([len(sentence) for sentence in sentences], self.batch_tokens)

    @torch.inference_mode()
    def predict(self, sentences: list[Sentence], probabilities: bool = False, top_k: int = 0) -> list[Sentence]:
        """Fill the predicted columns of `sentences` in place (other fields untouched) and return them.

        With `probabilities`, each sentence gets `.probabilities[column]`: the probability of each
        predicted tag. With `top_k`, `.top_k[column]` lists each word's k most probable tags with
        their probabilities (per word; for entity columns these ignore the span constraints that
        the chosen tags obey).
        """
        tagged = [s for s in sentences if len(s)]
        for batch in self.batches(tagged):
            forms = [tagged[i].forms for i in batch]
            logits = self.logits(forms)
            for column in self.columns:
                probs = logits[column].softmax(-1)
                probs[..., :2] = 0  # never predict <pad> or <unk>
                best_prob, best = probs.max(-1)
                lemmatiser = self.lemma_decoders.get(column)
                if column in self.entity_decoders:
                    lengths = torch.tensor([len(tagged[i]) for i in batch])
                    best = self.entity_decoders[column](logits[column], lengths)
                    best_prob = probs.gather(-1, best.unsqueeze(-1)).squeeze(-1)
                elif lemmatiser:  # the best edit script that applies, applied; the others get no probability
                    lemmas, best = lemmatiser(logits[column], forms)
                    probs[~lemmatiser.allowed(forms, probs.shape[1])] = 0
                    best_prob = probs.gather(-1, best.unsqueeze(-1)).squeeze(-1)
                itos = self.vocabs.tags[column].itos
                if top_k:
                    ranked_probs, ranked = probs.topk(min(top_k, probs.shape[-1] - 2), dim=-1)
                    ranked_probs, ranked = ranked_probs.tolist(), ranked.tolist()
                for row, index in enumerate(batch):
                    sentence = tagged[index]
                    n = len(sentence)
                    sentence.set_column(column, lemmas[row] if lemmatiser else [itos[i] for i in best[row, :n].tolist()])
                    if probabilities:
                        sentence.probabilities[column] = best_prob[row, :n].tolist()
                    if top_k:  # a lemma column's alternatives are named by their lemma
                        sentence.top_k[column] = [
                            [(lemmatiser.lemma(i, form) if lemmatiser else itos[i], p) for i, p in zip(ids, ps) if p > 0 or not lemmatiser]
                            for form, ids, ps in zip(forms[row], ranked[row][:n], ranked_probs[row][:n])
                        ]
        return sentences
