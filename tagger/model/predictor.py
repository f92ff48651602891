"""A trained network applied to sentence records: batch, encode, run, decode, write the columns back.

This is the prediction step that tagging (`tagger.inference`) and scoring (`tagger.evaluation`)
share. Sentences go in length-sorted, token-budgeted batches under `torch.inference_mode`.
Character-level embeddings are kept per word form (a table over the word vocabulary, a bounded
LRU for other forms), so a form runs through the character encoder once. The network runs in
bfloat16 where the CPU has it (`tagger.model.fast_inference`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from tagger.data.conllu_io import Sentence
from tagger.data.vocab import Vocab
from tagger.errors import TaggerError
from tagger.model.bucketing import by_length
from tagger.model.decoding import LemmaDecoder, entity_decoders, lemma_decoders
from tagger.model.encoding import collate, encode_forms, encode_sentences
from tagger.model.fast_inference import inference_network, resolve_precision
from tagger.model.model_file import ModelBundle

# top-k lemmas sum the scripts among a word's most probable ones; below these lies label smoothing's
# floor (each under 1e-4 on en_ewt), too little to reorder the alternatives a user reads
LEMMA_SCRIPTS_RANKED = 64


class FormEmbeddingCache:
    """CLE vectors of word forms, kept across batches; counts hits and misses.

    Forms of the word vocabulary get a row of a table, so the run of frequent words costs one
    gather, not a Python step per form: the rows of `stored` (the model file's table) are there
    from the start, the others are filled the first time their form is seen. Other forms go in a
    bounded LRU. A capacity of 0 turns all of it off: every CLE is computed afresh.
    """

    def __init__(self, capacity: int, vocabulary: Vocab | None = None, stored: Tensor | None = None) -> None:
        self.capacity = capacity
        self.vectors: OrderedDict[str, Tensor] = OrderedDict()
        self.vocabulary = vocabulary if capacity > 0 else None
        self.table: Tensor | None = None  # [vocabulary, dim]: a form's row is valid once `filled`
        self.filled = torch.zeros(len(self.vocabulary) if self.vocabulary else 2, dtype=torch.bool)
        self.stored = stored if self.vocabulary is not None else None
        self.hits = self.misses = 0
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
        self.vectors.clear()
        self.filled.zero_()
        self._restore()
        self.hits = self.misses = 0

    def lookup(self, forms: list[str], compute: Callable[[list[str]], Tensor]) -> Tensor:
        """Vectors for `forms` (distinct), computing the missing ones with one call of `compute(missing_forms)`."""
        if self.capacity <= 0:
            self.misses += len(forms)
            return compute(forms)
        rows = torch.tensor(self.vocabulary.indices(forms) if self.vocabulary else [1] * len(forms), dtype=torch.long)
        in_table = rows > 1
        new_rows = rows[in_table & ~self.filled[rows]]
        others = [form for form, row in zip(forms, rows.tolist()) if row <= 1]
        missing = [self.vocabulary.itos[row] for row in new_rows.tolist()] if len(new_rows) else []
        missing += [form for form in others if form not in self.vectors]
        self.misses += len(missing)
        self.hits += len(forms) - len(missing)
        if missing:
            computed = compute(missing)
            if len(new_rows):
                if self.table is None:
                    self.table = computed.new_zeros(len(self.vocabulary), computed.shape[1])
                self.table[new_rows] = computed[: len(new_rows)]
                self.filled[new_rows] = True
            for form, vector in zip(missing[len(new_rows) :], computed[len(new_rows) :]):
                self.vectors[form] = vector
        if not others:
            return self.table[rows]
        for form in others:
            self.vectors.move_to_end(form)
        other_vectors = torch.stack([self.vectors[form] for form in others])
        while len(self.vectors) > self.capacity:
            self.vectors.popitem(last=False)
        if len(others) == len(forms):
            return other_vectors
        vectors = self.table[rows]
        vectors[~in_table] = other_vectors
        return vectors


class Predictor:
    """Fills the predicted columns of `Sentence` records with a model's tags.

    `precision` is the arithmetic of the forward pass: "auto" (the default) is bfloat16 on a CPU
    that computes it natively (AVX512-BF16/AMX), where it runs the encoder several times faster
    and tags within 0.1 point of float32 on UD English-EWT; "float32" is the trained network
    exactly (see `tagger.model.fast_inference`). `cache_size=0` computes every CLE afresh.
    """

    def __init__(
        self, bundle: ModelBundle, batch_tokens: int = 4096, cache_size: int = 50_000, precision: str = "auto"
    ) -> None:
        self.bundle = bundle
        self.network = bundle.network.eval()  # as trained; `runner` is what predicts
        dtype = resolve_precision(precision)
        self.runner = inference_network(self.network, dtype)
        self.vocabs = bundle.vocabs
        self.columns = bundle.columns
        self.entity_decoders = entity_decoders(self.vocabs.tags)  # entity columns decode to valid IOB2 spans
        self.lemma_decoders = lemma_decoders(self.vocabs)  # lemma columns decode to edit scripts that apply
        self.batch_tokens = batch_tokens
        stored = None if bundle.form_table is None else bundle.form_table.to(dtype)
        self.cache = FormEmbeddingCache(cache_size, self.vocabs.words, stored)

    def clear_caches(self) -> None:
        """Forget what earlier inputs taught the caches (computed CLEs, applied lemma scripts): a fresh start."""
        self.cache.clear()
        for decoder in self.lemma_decoders.values():
            decoder.lemmas.clear()

    def _embed_forms(self, forms: list[str]) -> Tensor:
        return self.runner.embed_forms(*encode_forms(forms, self.vocabs.chars))

    def logits(self, forms: Sequence[Sequence[str]]) -> dict[str, Tensor]:
        """Per column, float32 [sentences, time, tags] for a batch of sentences given as lists of forms."""
        encoded = encode_sentences(forms, self.vocabs, self.bundle.max_word_chars)
        batch = collate(encoded, range(len(encoded)))
        form_embeddings = self.cache.lookup([encoded.forms[i] for i in batch["forms"].tolist()], self._embed_forms)
        logits = self.runner(batch["words"], batch["lengths"], batch["form_index"], form_embeddings=form_embeddings)
        return {column: values.float() for column, values in logits.items()}

    def batches(self, sentences: Sequence[Sentence]) -> list[list[int]]:
        """The batches `predict` forms: indices of `sentences`, by length, within the token budget."""
        return by_length([len(sentence) for sentence in sentences], self.batch_tokens)

    @torch.inference_mode()
    def predict(self, sentences: list[Sentence], probabilities: bool = False, top_k: int = 0) -> list[Sentence]:
        """Fill the predicted columns of `sentences` in place (other fields untouched) and return them.

        With `probabilities`, each sentence gets `.probabilities[column]`: the probability of each
        predicted tag. With `top_k`, `.top_k[column]` lists each word's k most probable tags with
        their probabilities (per word; all of a column's tags where it has fewer than k; distinct
        lemmas for a lemma column; for entity columns these ignore the span constraints that the
        chosen tags obey).
        """
        if top_k < 0:
            raise TaggerError(f"top_k={top_k}: give 0 (none) or more tags")
        tagged = [s for s in sentences if len(s)]
        for batch in self.batches(tagged):
            members = [tagged[i] for i in batch]
            logits = self.logits([sentence.forms for sentence in members])
            lengths = [len(sentence) for sentence in members]
            for column in self.columns:
                scores = logits[column]
                lemmatiser = self.lemma_decoders.get(column)
                if column in self.entity_decoders:
                    best = self.entity_decoders[column](scores, torch.tensor(lengths))
                elif lemmatiser:  # the best edit script that applies, applied
                    lemmas, best = lemmatiser(scores, [sentence.forms for sentence in members])
                else:
                    best = scores[..., 2:].argmax(-1) + 2  # never <pad> or <unk>
                itos = self.vocabs.tags[column].itos
                for row, (sentence, n, ids) in enumerate(zip(members, lengths, best.tolist())):
                    sentence.set_column(column, lemmas[row] if lemmatiser else [itos[i] for i in ids[:n]])
                if probabilities or top_k:
                    self._write_probabilities(column, members, lengths, scores, best, probabilities, top_k)
        return sentences

    def _write_probabilities(
        self, column: str, sentences: list[Sentence], lengths: list[int], scores: Tensor, best: Tensor,
        probabilities: bool, top_k: int,
    ) -> None:
        probs = scores.softmax(-1)
        probs[..., :2] = 0  # never <pad> or <unk>
        itos = self.vocabs.tags[column].itos
        lemmatiser = self.lemma_decoders.get(column)
        if lemmatiser:  # scripts that cannot apply have no probability; alternatives are named by their lemma
            probs[~lemmatiser.allowed([sentence.forms for sentence in sentences], probs.shape[1])] = 0
        if probabilities:
            best_probs = probs.gather(-1, best.unsqueeze(-1)).squeeze(-1).tolist()
            for sentence, n, values in zip(sentences, lengths, best_probs):
                sentence.probabilities[column] = values[:n]
        if top_k:  # lemmas: scripts ranked deeper, as several may give one lemma
            depth = max(top_k, LEMMA_SCRIPTS_RANKED) if lemmatiser else top_k
            ranked_probs, ranked = probs.topk(min(depth, probs.shape[-1] - 2), dim=-1)
            for sentence, n, ids, values in zip(sentences, lengths, ranked.tolist(), ranked_probs.tolist()):
                sentence.top_k[column] = [
                    _distinct_lemmas(lemmatiser, form, row, ps, top_k) if lemmatiser else [(itos[i], p) for i, p in zip(row, ps)]
                    for form, row, ps in zip(sentence.forms, ids[:n], values[:n])
                ]


def _distinct_lemmas(lemmatiser: LemmaDecoder, form: str, scripts: list[int], probabilities: list[float], k: int) -> list[tuple[str, float]]:
    """A word's k most probable distinct lemmas: two scripts that give one lemma (keep `I`, or lower-case then
    upper-case it) are one alternative to a user, with their probabilities summed."""
    summed: dict[str, float] = {}
    for script, probability in zip(scripts, probabilities):
        if probability > 0:  # scripts that cannot apply have none
            lemma = lemmatiser.lemma(script, form)
            summed[lemma] = summed.get(lemma, 0.0) + probability
    return sorted(summed.items(), key=lambda item: -item[1])[:k]
