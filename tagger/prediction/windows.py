"""Long sentences in overlapping windows: the network never sees more than `max_tokens` words at once.

A BiLSTM over one 20,000-word "sentence" (a text dump without punctuation, OCR output) runs
20,000 sequential steps on a batch of one and holds every column's scores for all of it; cut
into windows, the same words run as a batch of short sequences, in time and memory linear in
the input. Each window reads `context` words on either side of the part whose tags it keeps,
so every kept tag saw at least that much context, as a whole sentence would give it (treebank
sentences are far shorter than a window, so they are never cut). Entity tags are decoded per
window; where two windows meet, an `I-X` that would follow anything but `B-X`/`I-X` becomes
`B-X`, so spans stay well formed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tagger.data.conllu_io import Sentence
from tagger.data.iob import split_tag


@dataclass(frozen=True, slots=True)
class Window:
    """A piece of a long sentence, tagged as a sentence of its own; its words [keep_start, keep_end) are kept."""

    sentence: Sentence
    piece: Sentence
    start: int  # of the piece within the sentence
    keep_start: int
    keep_end: int


def window_bounds(length: int, max_tokens: int, context: int) -> list[tuple[int, int, int, int]]:
    """(start, end, keep_start, keep_end) of each window over `length` words; one window if it fits."""
    if length <= max_tokens:
        return [(0, length, 0, length)]
    stride = max_tokens - 2 * context
    bounds = []
    for keep_start in range(0, length, stride):
        keep_end = min(length, keep_start + stride)
        bounds.append((max(0, keep_start - context), min(length, keep_end + context), keep_start, keep_end))
    return bounds


def cut(sentences: Sequence[Sentence], max_tokens: int, context: int) -> tuple[list[Sentence], list[list[Window]]]:
    """What the network runs on (sentences that fit, and the pieces of those that do not), and the
    windows of each long sentence, for `join`."""
    runnable: list[Sentence] = []
    long: list[list[Window]] = []
    for sentence in sentences:
        if len(sentence) <= max_tokens:
            runnable.append(sentence)
            continue
        forms = sentence.forms
        windows = [Window(sentence, Sentence.from_forms(forms[start:end]), start, keep_start, keep_end)
                   for start, end, keep_start, keep_end in window_bounds(len(forms), max_tokens, context)]
        runnable.extend(window.piece for window in windows)
        long.append(windows)
    return runnable, long


def join(windows: Sequence[Window], columns: Sequence[str], entity_columns: Sequence[str]) -> None:
    """Write the kept part of each tagged piece into its sentence: tags, and probabilities and top-k where computed."""
    sentence = windows[0].sentence
    kept = [(w.piece, slice(w.keep_start - w.start, w.keep_end - w.start)) for w in windows]
    for column in columns:
        values = [tag for piece, keep in kept for tag in piece.column(column)[keep]]
        sentence.set_column(column, _well_formed(values) if column in entity_columns else values)
    first = windows[0].piece
    for column in first.probabilities:
        sentence.probabilities[column] = [p for piece, keep in kept for p in piece.probabilities[column][keep]]
    for column in first.top_k:
        sentence.top_k[column] = [ranked for piece, keep in kept for ranked in piece.top_k[column][keep]]


def _well_formed(tags: list[str]) -> list[str]:
    """IOB2 tags with every `I-X` that does not continue an `X` span turned into `B-X`."""
    previous = "O"
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and split_tag(previous)[1] != split_tag(tag)[1]:
            tags[i] = tag = "B-" + tag[2:]
        previous = tag
    return tags
