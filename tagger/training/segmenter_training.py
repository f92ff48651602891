"""Training the learned segmenter from a treebank's CoNLL-U, with the checkpoint chosen on dev.

The training paragraphs are joined into one stream (separated by a blank line, as raw text
separates them) and cut into windows at a new random offset on every pass, so every character
is seen at every position of a window over time. Labels: per character the boundary class; at
each token's last character also its multiword rule. Every `eval_every` steps the dev file's
raw text is segmented exactly as at inference and scored the CoNLL 2018 way; the state with the
best Tokens + Sentences + Words F1 is kept, and training stops after `patience` evaluations
without a better one, or at `max_steps`. A plain loop, not Lightning: the network is small and
trains in minutes on one core.
"""

from __future__ import annotations

import copy
import logging
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm import tqdm

from tagger.data.conllu_io import Sentence
from tagger.data.raw_text import NO_BOUNDARY, PARAGRAPH_SEPARATOR, Paragraph, has_raw_text, paragraphs, raw_text
from tagger.data.tokens import TokenizedSentence
from tagger.errors import TaggerError
from tagger.evaluation.conll18 import evaluate_conll18
from tagger.model.multiword import MultiwordExpander
from tagger.model.segmenter import Segmenter, SegmenterConfig

log = logging.getLogger(__name__)
IGNORE = -100
SELECTION_METRICS = ("Tokens", "Sentences", "Words")


@dataclass(frozen=True)
class SegmenterTrainingConfig:
    """How the segmenter learns; the values (and why) are `segmenter.training` in conf/train.yaml."""

    max_steps: int  # steps, not epochs: a small treebank needs as many updates as a large one
    eval_every: int  # steps between dev evaluations
    patience: int  # evaluations without a better dev score before stopping
    batch_size: int
    window: int  # characters per training window: shorter than at inference, for more and smaller steps
    learning_rate: float
    sentence_end_weight: float  # loss weight of the rare SENTENCE_END class (1: unweighted)
    char_dropout: float  # share of characters shown as their class placeholder, so those learn too
    min_rule_count: int  # a multiword split rule seen fewer times in train is not learned
    seed: int


def default_configs() -> tuple[SegmenterConfig, SegmenterTrainingConfig]:
    """The segmenter's network and training settings as conf/train.yaml has them (their one home)."""
    from importlib.resources import files

    from omegaconf import OmegaConf

    section = OmegaConf.load(str(files("tagger.conf") / "train.yaml")).segmenter
    return SegmenterConfig(**section.network), SegmenterTrainingConfig(**section.training)


@dataclass(frozen=True)
class _Stream:
    ids: Tensor  # [chars] the whole training text, `context` pads at both ends
    boundaries: Tensor  # [chars] NO_BOUNDARY / TOKEN_END / SENTENCE_END, IGNORE on pads
    rules: Tensor  # [chars] multiword rule at token ends, IGNORE elsewhere


def train_segmenter(
    train: Sequence[Sentence],
    dev: Sequence[Sentence],
    config: SegmenterConfig,
    training: SegmenterTrainingConfig,
    source: str = "<train>",
    progress: bool = False,
) -> tuple[Segmenter, dict]:
    """A segmenter learned from `train`, chosen on `dev`, and a report (best and every dev score, minutes).

    `progress`: a bar on stderr (steps of `max_steps`, last dev scores), as Lightning's for the tagger phase.
    Raises TaggerError where `train` has no raw text to learn from."""
    if not has_raw_text(train):
        raise TaggerError(
            f"{source} has no raw text (no # text, no SpaceAfter): cannot learn a segmenter; "
            "train without one and raw text goes through the rule tokenizer"
        )
    started = time.perf_counter()
    torch.manual_seed(training.seed)
    generator = random.Random(training.seed)
    train_paragraphs = paragraphs(train, source)
    expander = MultiwordExpander.learn(
        ((token.form, token.words) for paragraph in train_paragraphs for token in paragraph.tokens),
        training.min_rule_count,
    )
    chars = sorted({char for paragraph in train_paragraphs for char in paragraph.text} | set(PARAGRAPH_SEPARATOR))
    segmenter = Segmenter(chars, expander, config)
    stream = _training_stream(segmenter, train_paragraphs)
    placeholders = segmenter.class_placeholders()
    dev_text = raw_text(dev, "dev")
    optimiser = torch.optim.Adam(segmenter.parameters(), lr=training.learning_rate)
    loss = _Loss(training.sentence_end_weight)
    best_score, best_state, history = -1.0, None, []
    bar = tqdm(total=training.max_steps, desc="segmenter", unit="step", file=sys.stderr, disable=not progress, leave=False)
    for step, batch in enumerate(_batches(stream, training, generator), start=1):
        bar.update()
        segmenter.train()
        ids, boundaries, rules = batch
        ids = torch.where(torch.rand(ids.shape) < training.char_dropout, placeholders[ids], ids)
        optimiser.zero_grad()
        loss(segmenter, ids, boundaries, rules).backward()
        nn.utils.clip_grad_norm_(segmenter.parameters(), 1.0)
        optimiser.step()
        if step % training.eval_every and step < training.max_steps:
            continue
        segmenter.eval()
        scores = dev_scores(segmenter, dev, dev_text)
        history.append({"step": step, **scores})
        log.info("segmenter step %d of at most %d: dev %s", step, training.max_steps, scores)
        bar.set_postfix({name: f"{value:.2f}" for name, value in scores.items()}, refresh=True)
        score = sum(scores[name] for name in SELECTION_METRICS)
        if score > best_score:
            best_score, best_state = score, copy.deepcopy(segmenter.state_dict())
        if step >= training.max_steps or len(history) - _best_index(history) > training.patience:
            break
    bar.close()
    segmenter.load_state_dict(best_state)
    segmenter.eval()
    report = {"dev": history[_best_index(history)], "history": history}
    return segmenter, {**report, "minutes": (time.perf_counter() - started) / 60}


class _Loss:
    """Cross-entropy of the boundary labels of every character plus that of the multiword rules at token ends."""

    def __init__(self, sentence_end_weight: float) -> None:
        weights = torch.tensor([1.0, 1.0, sentence_end_weight])
        self.boundaries = nn.CrossEntropyLoss(weights, ignore_index=IGNORE)
        self.rules = nn.CrossEntropyLoss(ignore_index=IGNORE)

    def __call__(self, segmenter: Segmenter, ids: Tensor, boundaries: Tensor, rules: Tensor) -> Tensor:
        states = segmenter.network(ids)
        loss = self.boundaries(segmenter.network.boundary(states).flatten(0, 1), boundaries.flatten())
        at_token_ends = rules != IGNORE
        if at_token_ends.any():
            loss = loss + self.rules(segmenter.network.multiword(states[at_token_ends]), rules[at_token_ends])
        return loss


def _best_index(history: list[dict]) -> int:
    return max(range(len(history)), key=lambda i: sum(history[i][name] for name in SELECTION_METRICS))


def dev_scores(segmenter: Segmenter, gold: Sequence[Sentence], text: str) -> dict[str, float]:
    """Tokens, Sentences and Words F1 of the segmenter on `text` (the raw text of `gold`)."""
    system = [scored_sentence(sentence) for sentence in segmenter.tokenize(text)]
    scores = evaluate_conll18(gold, system)
    return {name: round(scores[name].f1, 2) for name in SELECTION_METRICS}


def scored_sentence(tokenized: TokenizedSentence) -> Sentence:
    """The segmentation as a CoNLL-U sentence, with range lines for multiword tokens: what scoring reads."""
    rows: list[list[str]] = []
    word_rows: list[int] = []
    for token in tokenized.tokens:
        if len(token.words) > 1:
            first = len(word_rows) + 1
            rows.append([f"{first}-{first + len(token.words) - 1}", token.text] + ["_"] * 8)
        for word in token.words:
            word_rows.append(len(rows))
            rows.append([str(len(word_rows)), word] + ["_"] * 8)
    return Sentence(rows=rows, word_rows=word_rows)


def _training_stream(segmenter: Segmenter, train_paragraphs: Sequence[Paragraph]) -> _Stream:
    """The paragraphs as one text, padded with `context` pads at both ends, and its labels."""
    pad = segmenter.config.context
    boundaries: list[int] = [IGNORE] * pad
    rules: list[int] = [IGNORE] * pad
    texts: list[str] = []
    for paragraph in train_paragraphs:
        if texts:
            boundaries += [NO_BOUNDARY] * len(PARAGRAPH_SEPARATOR)
            rules += [IGNORE] * len(PARAGRAPH_SEPARATOR)
        start = len(rules)
        boundaries += paragraph.boundary_labels()
        rules += [IGNORE] * len(paragraph.text)
        for token in paragraph.tokens:
            target = segmenter.expander.target(token.form, token.words)
            rules[start + token.end - 1] = IGNORE if target is None else target
        texts.append(paragraph.text)
    ids = segmenter.encode(PARAGRAPH_SEPARATOR.join(texts))
    padding = ids.new_zeros(pad)
    return _Stream(
        torch.cat([padding, ids, padding]),
        torch.tensor(boundaries + [IGNORE] * pad),
        torch.tensor(rules + [IGNORE] * pad),
    )


def _batches(
    stream: _Stream, training: SegmenterTrainingConfig, generator: random.Random
) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """Endless shuffled batches of windows; each pass over the stream cuts them at a new random offset."""
    window = min(training.window, len(stream.ids))
    while True:
        offset = generator.randrange(min(window, len(stream.ids) - window + 1))
        starts = list(range(offset, len(stream.ids) - window + 1, window))
        generator.shuffle(starts)
        for i in range(0, len(starts), training.batch_size):
            index = torch.tensor(starts[i : i + training.batch_size]).unsqueeze(1) + torch.arange(window)
            yield stream.ids[index], stream.boundaries[index], stream.rules[index]
