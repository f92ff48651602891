"""A trained network applied to sentence records: batch, encode, run, decode, write the columns back.

This is the prediction step that tagging (`tagger.inference`), scoring (`tagger.evaluation`) and
the end of training share. Sentences go in length-sorted, token-budgeted batches under
`torch.inference_mode`. Character-level embeddings are kept per word form
(`tagger.prediction.form_cache`), so a form runs through the character encoder once. The network
runs in bfloat16 where the device has it (`tagger.prediction.precision`). On a GPU everything
a batch needs lives there (network, stored CLE table and cache, decoding masks); a batch is
encoded on the CPU and moved once, and only the chosen tag ids come back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from tagger.data.conllu_io import Sentence
from tagger.device import resolve_device
from tagger.errors import TaggerError
from tagger.model.bucketing import token_budget_batches
from tagger.model.decoding import LemmaDecoder, entity_decoders, lemma_decoders
from tagger.model.encoding import collate, encode_forms, encode_sentences
from tagger.model.model_file import ModelBundle
from tagger.prediction.form_cache import FormEmbeddingCache
from tagger.prediction.precision import Precision
from tagger.prediction.windows import cut, join

# The longest word sequence the network sees at once, and the context a window reads on either side of
# the words it tags (`tagger.prediction.windows`): ample for treebank sentences (en_ewt's longest: 159).
MAX_SENTENCE_TOKENS = 256
WINDOW_CONTEXT = 32
# top-k lemmas sum the scripts among a word's most probable ones; below these lies label smoothing's
# floor (each under 1e-4 on en_ewt), too little to reorder the alternatives a user reads
LEMMA_SCRIPTS_RANKED = 64


def by_length(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Batches of sentence indices: sorted by length (ties in input order), cut by the token budget."""
    return token_budget_batches(sorted(range(len(lengths)), key=lengths.__getitem__), lengths, max_tokens)


def default_batch_tokens(device: torch.device) -> int:
    """Tokens per batch: 4096 keeps a CPU's caches warm; a GPU is kept busy by more at once."""
    return 4096 if device.type == "cpu" else 16384


class Predictor:
    """Fills the predicted columns of `Sentence` records with a model's tags.

    `precision` is the arithmetic of the forward pass: "auto" (the default) is bfloat16 on a CPU
    that computes it natively (AVX512-BF16/AMX), where it runs the encoder several times faster
    and tags within 0.1 point of float32 on UD English-EWT; "float32" is the trained network
    exactly. `self.precision` is the choice made, and all it decides (`tagger.prediction.precision`).
    `network` is the network that predicts: `bundle.network` itself in float32 on the CPU, a copy
    otherwise. `cache_size` bounds the CLE cache of forms outside the word vocabulary (0: none);
    `form_table=False` also computes the CLE of vocabulary forms afresh instead of reading the model
    file's table. `device` is where it runs ("cpu", "cuda", "cuda:N", "auto"; see `tagger.device`);
    `batch_tokens` by default suits it.
    """

    def __init__(
        self, bundle: ModelBundle, batch_tokens: int | None = None, cache_size: int = 50_000, precision: str = "auto",
        form_table: bool = True, device: str | torch.device = "cpu",
    ) -> None:
        self.bundle = bundle
        self.device = resolve_device(device)
        self.precision = Precision.resolve(precision, self.device)
        self.network = self.precision.network(bundle.network.eval())
        self.vocabs = bundle.vocabs
        self.columns = bundle.columns
        # entity columns decode to valid IOB2 spans, lemma columns to edit scripts that apply
        self.entity_decoders = {c: d.to(self.device) for c, d in entity_decoders(self.vocabs.tags).items()}
        self.lemma_decoders = {c: d.to(self.device) for c, d in lemma_decoders(self.vocabs).items()}
        self.batch_tokens = batch_tokens or default_batch_tokens(self.device)
        stored = None if bundle.form_table is None else bundle.form_table.to(self.device, self.precision.embedding_dtype)
        self.cache = FormEmbeddingCache(cache_size, self.vocabs.words, stored, table=form_table)

    def clear_caches(self) -> None:
        """Forget what earlier inputs taught the caches (computed CLEs, applied lemma scripts): a fresh start."""
        self.cache.clear()
        for decoder in self.lemma_decoders.values():
            decoder.lemmas.clear()

    def _embed_forms(self, forms: list[str]) -> Tensor:
        chars, lengths = encode_forms(forms, self.vocabs.chars)
        return self.network.embed_forms(chars.to(self.device), lengths.to(self.device)).to(self.precision.embedding_dtype)

    def logits(self, forms: Sequence[Sequence[str]]) -> dict[str, Tensor]:
        """Per column, float32 [sentences, time, tags] on the device, for a batch of sentences given as lists of forms."""
        encoded = encode_sentences(forms, self.vocabs, self.bundle.max_word_chars)
        batch = collate(encoded, range(len(encoded)))
        words, lengths, form_index = (batch[name].to(self.device) for name in ("words", "lengths", "form_index"))
        with self.precision.forward_context():
            form_embeddings = self.cache.lookup([encoded.forms[i] for i in batch["forms"].tolist()], self._embed_forms)
            logits = self.network(words, lengths, form_index, form_embeddings=form_embeddings)
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
        chosen tags obey). A sentence longer than MAX_SENTENCE_TOKENS is tagged in overlapping
        windows (`tagger.prediction.windows`).
        """
        if top_k < 0:
            raise TaggerError(f"top_k={top_k}: give 0 (none) or more tags")
        tagged, long = cut([s for s in sentences if len(s)], MAX_SENTENCE_TOKENS, WINDOW_CONTEXT)
        self._predict_batches(tagged, probabilities, top_k)
        for windows in long:
            join(windows, self.columns, list(self.entity_decoders))
        return sentences

    def _predict_batches(self, tagged: list[Sentence], probabilities: bool, top_k: int) -> None:
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
        if lemmatiser:  # a lemma's probability is that of every script giving it, in `probabilities` as in `top_k`
            ranked_probs, ranked = probs.topk(min(max(top_k, LEMMA_SCRIPTS_RANKED), probs.shape[-1] - 2), dim=-1)
            for sentence, n, ids, values in zip(sentences, lengths, ranked.tolist(), ranked_probs.tolist()):
                alternatives = [_distinct_lemmas(lemmatiser, form, row, ps) for form, row, ps in
                                zip(sentence.forms, ids[:n], values[:n])]
                if probabilities:
                    sentence.probabilities[column] = [dict(found).get(lemma, 0.0) for found, lemma in
                                                      zip(alternatives, sentence.column(column))]
                if top_k:
                    sentence.top_k[column] = [found[:top_k] for found in alternatives]
            return
        if probabilities:
            best_probs = probs.gather(-1, best.unsqueeze(-1)).squeeze(-1).tolist()
            for sentence, n, values in zip(sentences, lengths, best_probs):
                sentence.probabilities[column] = values[:n]
        if top_k:
            ranked_probs, ranked = probs.topk(min(top_k, probs.shape[-1] - 2), dim=-1)
            for sentence, n, ids, values in zip(sentences, lengths, ranked.tolist(), ranked_probs.tolist()):
                sentence.top_k[column] = [[(itos[i], p) for i, p in zip(row, ps)] for row, ps in zip(ids[:n], values[:n])]


def _distinct_lemmas(
    lemmatiser: LemmaDecoder, form: str, scripts: list[int], probabilities: list[float]
) -> list[tuple[str, float]]:
    """A word's distinct lemmas, most probable first: two scripts that give one lemma (keep `I`, or lower-case
    then upper-case it) are one alternative to a user, with their probabilities summed."""
    summed: dict[str, float] = {}
    for script, probability in zip(scripts, probabilities):
        if probability > 0:  # scripts that cannot apply have none
            lemma = lemmatiser.lemma(script, form)
            summed[lemma] = summed.get(lemma, 0.0) + probability
    return sorted(summed.items(), key=lambda item: -item[1])
