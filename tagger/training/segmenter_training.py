"""Training the learned segmenter from a treebank's CoNLL-U, with the checkpoint chosen on dev.

The training paragraphs are joined into one stream (separated by a blank line, as raw text
separates them) and cut into windows at a new random offset on every pass, so every character
is seen at every position of a window over time. A share of the windows (`text_ends`) is cut
at a sentence end, and another at a sentence start, the rest of the window made what inference
shows beyond a text's edge (a blank line, then padding): inference segments each text between
paragraph breaks, so every text ends that way, while a treebank without paragraph marks is one
stream in which a window almost never does (a model trained on it glued a text's last period
to its word). Labels: per character the boundary class; at
each token's last character also its multiword rule. Every `eval_every` steps the dev file's
raw text is segmented exactly as at inference and scored the CoNLL 2018 way; the state with the
best Tokens + Sentences + Words F1 is kept, and training stops after `patience` evaluations
without a better one, or at `max_steps`. A plain loop, not Lightning: the network is small and
trains in minutes on one core, or on the GPU the tagger trained on (the text and its labels
stay on the CPU; each batch of windows moves there).
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
from tagger.errors import TaggerError
from tagger.evaluation.conll18 import evaluate_conll18
from tagger.model.segmenter import CHAR_CLASSES, Segmenter, SegmenterConfig, char_class
from tagger.segmentation.learned import LearnedSegmenter
from tagger.segmentation.multiword import MultiwordExpander
from tagger.segmentation.tokens import RawTextTokenizer, conllu_sentence

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
    text_ends: float  # share of windows cut at a sentence end (and, apart, at a start) as a text's edge


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
    sentence_starts: Tensor  # stream index of every sentence's first character, ascending
    sentence_ends: Tensor  # stream index of every sentence's last character, ascending
    separator: Tensor  # ids of PARAGRAPH_SEPARATOR, what inference puts around each text


def train_segmenter(
    train: Sequence[Sentence],
    dev: Sequence[Sentence],
    config: SegmenterConfig,
    training: SegmenterTrainingConfig,
    source: str = "<train>",
    device: torch.device = torch.device("cpu"),
    progress: bool = False,
) -> tuple[Segmenter, dict]:
    """A segmenter learned from `train` on `device`, chosen on `dev`, and a report (best and every dev
    score, minutes). The segmenter comes back on the CPU, as a loaded one is.

    `progress`: a bar on stderr (steps of `max_steps`, last dev scores), as Lightning's for the tagger phase.
    Raises TaggerError where `train` has no raw text to learn from. The run seeds its own random
    state and gives the caller's back afterwards: training a segmenter changes nothing process-wide.
    """
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(training.seed)
        return _train_segmenter(train, dev, config, training, source, device, progress)


def _train_segmenter(
    train: Sequence[Sentence], dev: Sequence[Sentence], config: SegmenterConfig, training: SegmenterTrainingConfig,
    source: str, device: torch.device, progress: bool,
) -> tuple[Segmenter, dict]:
    if not has_raw_text(train):
        raise TaggerError(
            f"{source} has no raw text (no # text, no SpaceAfter): cannot learn a segmenter; "
            "train without one and raw text goes through the rule tokenizer"
        )
    started = time.perf_counter()
    generator = random.Random(training.seed)
    train_paragraphs = paragraphs(train, source)
    expander = MultiwordExpander.learn(
        ((token.form, token.words) for paragraph in train_paragraphs for token in paragraph.tokens),
        training.min_rule_count,
    )
    chars = sorted({char for paragraph in train_paragraphs for char in paragraph.text} | set(PARAGRAPH_SEPARATOR))
    inner_spaces = {char for paragraph in train_paragraphs for token in paragraph.tokens
                    for char in token.form if char.isspace()}
    segmenter = Segmenter(chars, expander.to_dict(), expander.n_rules, config, "".join(sorted(inner_spaces)))
    stream = _training_stream(segmenter, expander, train_paragraphs)
    segmenter.to(device)
    placeholders = class_placeholders(segmenter).to(device)
    dev_text = raw_text(dev, "dev")
    optimiser = torch.optim.Adam(segmenter.parameters(), lr=training.learning_rate)
    loss = _Loss(training.sentence_end_weight, device)
    best_score, best_state, history = -1.0, None, []
    bar = tqdm(total=training.max_steps, desc="segmenter", unit="step", file=sys.stderr, disable=not progress, leave=False)
    for step, batch in enumerate(_batches(stream, training, generator), start=1):
        bar.update()
        segmenter.train()
        ids, boundaries, rules = (tensor.to(device, non_blocking=True) for tensor in batch)
        ids = torch.where(torch.rand(ids.shape, device=device) < training.char_dropout, placeholders[ids], ids)
        optimiser.zero_grad()
        loss(segmenter, ids, boundaries, rules).backward()
        nn.utils.clip_grad_norm_(segmenter.parameters(), 1.0)
        optimiser.step()
        if step % training.eval_every and step < training.max_steps:
            continue
        segmenter.eval()
        scores = dev_scores(LearnedSegmenter(segmenter), dev, dev_text)
        history.append({"step": step, **scores})
        log.info("segmenter step %d of at most %d: dev %s", step, training.max_steps, scores)
        bar.set_postfix({name: f"{value:.2f}" for name, value in scores.items()}, refresh=True)
        score = selection_score(scores)
        if score > best_score:
            best_score, best_state = score, copy.deepcopy(segmenter.state_dict())
        if step >= training.max_steps or len(history) - _best_index(history) > training.patience:
            break
    bar.close()
    segmenter.load_state_dict(best_state)
    segmenter.cpu().eval()
    report = {"dev": history[_best_index(history)], "history": history}
    return segmenter, {**report, "minutes": (time.perf_counter() - started) / 60}


class _Loss:
    """Cross-entropy of the boundary labels of every character plus that of the multiword rules at token ends."""

    def __init__(self, sentence_end_weight: float, device: torch.device) -> None:
        weights = torch.tensor([1.0, 1.0, sentence_end_weight], device=device)
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
    return max(range(len(history)), key=lambda i: selection_score(history[i]))


def selection_score(scores: dict[str, float]) -> float:
    """What a segmentation is judged by: its Tokens + Sentences + Words F1. It chooses the segmenter's
    checkpoint, and whether a model keeps its segmenter or the rule tokenizer does better."""
    return sum(scores[name] for name in SELECTION_METRICS)


def dev_scores(tokenizer: RawTextTokenizer, gold: Sequence[Sentence], text: str) -> dict[str, float]:
    """Tokens, Sentences and Words F1 of a tokenizer (a `LearnedSegmenter`, or the rules) on `text`, the raw text of `gold`."""
    system = [conllu_sentence(sentence)[0] for sentence in tokenizer.tokenize(text)]
    scores = evaluate_conll18(gold, system)
    return {name: round(scores[name].f1, 2) for name in SELECTION_METRICS}


def class_placeholders(segmenter: Segmenter) -> Tensor:
    """Per character id, the id of its class placeholder: what character dropout shows instead."""
    first_char = 2 + len(CHAR_CLASSES)  # after <pad>, <unk> and the placeholders
    stoi = segmenter.vocab.stoi
    return torch.tensor([stoi[char_class(char)] if i >= first_char else i for i, char in enumerate(segmenter.vocab.itos)])


def _training_stream(segmenter: Segmenter, expander: MultiwordExpander, train_paragraphs: Sequence[Paragraph]) -> _Stream:
    """The paragraphs as one text, padded with `context` pads at both ends, and its labels."""
    pad = segmenter.config.context
    boundaries: list[int] = [IGNORE] * pad
    rules: list[int] = [IGNORE] * pad
    sentence_starts: list[int] = []
    sentence_ends: list[int] = []
    texts: list[str] = []
    for paragraph in train_paragraphs:
        if texts:
            boundaries += [NO_BOUNDARY] * len(PARAGRAPH_SEPARATOR)
            rules += [IGNORE] * len(PARAGRAPH_SEPARATOR)
        start = len(rules)
        boundaries += paragraph.boundary_labels()
        rules += [IGNORE] * len(paragraph.text)
        for token in paragraph.tokens:
            target = expander.target(token.form, token.words)
            rules[start + token.end - 1] = IGNORE if target is None else target
        sentence_starts += [start + first for first, _ in paragraph.sentences]
        sentence_ends += [start + end - 1 for _, end in paragraph.sentences]
        texts.append(paragraph.text)
    ids = segmenter.encode(PARAGRAPH_SEPARATOR.join(texts))
    padding = ids.new_zeros(pad)
    return _Stream(
        torch.cat([padding, ids, padding]),
        torch.tensor(boundaries + [IGNORE] * pad),
        torch.tensor(rules + [IGNORE] * pad),
        torch.tensor(sentence_starts),
        torch.tensor(sentence_ends),
        segmenter.encode(PARAGRAPH_SEPARATOR),
    )


def _batches(
    stream: _Stream, training: SegmenterTrainingConfig, generator: random.Random
) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """Endless shuffled batches of windows; each pass over the stream cuts them at a new random offset,
    and a share of the windows shows a text's end or start (`_as_text_edge`)."""
    window = min(training.window, len(stream.ids))
    while True:
        offset = generator.randrange(min(window, len(stream.ids) - window + 1))
        starts = list(range(offset, len(stream.ids) - window + 1, window))
        generator.shuffle(starts)
        for i in range(0, len(starts), training.batch_size):
            batch_starts = starts[i : i + training.batch_size]
            index = torch.tensor(batch_starts).unsqueeze(1) + torch.arange(window)
            ids, boundaries, rules = stream.ids[index], stream.boundaries[index], stream.rules[index]
            for row, start in enumerate(batch_starts):
                for at_end in (True, False):
                    if generator.random() < training.text_ends:
                        _as_text_edge(stream, start, window, at_end, generator, ids[row], boundaries[row], rules[row])
            yield ids, boundaries, rules


def _as_text_edge(stream: _Stream, start: int, window: int, at_end: bool, generator: random.Random,
                  ids: Tensor, boundaries: Tensor, rules: Tensor) -> None:
    """Make one window (in place) end after a sentence, or begin before one, as inference frames a text:
    the sentence, the paragraph separator, then padding (labels ignored) to the window's edge.
    A window without a sentence edge where one fits is left as it is."""
    separator = len(stream.separator)
    # a sentence's last character with room for the separator after it, or its first with room before it
    edges, low, high = ((stream.sentence_ends, start, start + window - 1 - separator) if at_end
                        else (stream.sentence_starts, start + separator, start + window - 1))
    first, last = torch.searchsorted(edges, torch.tensor([low, high + 1])).tolist()
    if first >= last:
        return
    at = int(edges[generator.randrange(first, last)]) - start
    if at_end:
        beyond, text = slice(at + 1 + separator, None), slice(at + 1, at + 1 + separator)
    else:
        beyond, text = slice(None, at - separator), slice(at - separator, at)
    ids[text], boundaries[text], rules[text] = stream.separator, NO_BOUNDARY, IGNORE
    ids[beyond], boundaries[beyond], rules[beyond] = 0, IGNORE, IGNORE
