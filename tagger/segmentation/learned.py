"""The learned segmenter run on text: raw text -> sentences of tokens (and their words), with exact offsets.

The text is cut into fixed windows that overlap by `context` characters on each side; only a
window's centre is read, so every label is decided with at least `context` characters seen
either way. The windows run in batches of about `batch_chars` characters, and of each batch only
what decoding needs is kept: a label per character and, at the few token ends whose best multiword
rule is not "one word", that head's scores. So memory is bounded by the batch, not by the text,
and sentences are handed on as soon as their last label is known (`sentences`): one huge line
streams like many small ones. Whitespace is labelled like any character
(always NO_BOUNDARY), so a token may hold a space where the treebank has one (French
*20 000*); any other whitespace (line breaks, tabs, no-break spaces where the treebank has none
inside a form) always ends a token, whatever the network says. A sentence may end without punctuation
(Turkish ATIS has none): the network learns where from content. The state at a token's last
character also chooses its multiword rule (`multiword.py`). The network itself, and the
character encoding training shares, are `tagger.model.segmenter`. On a GPU only the network runs
there (in float32); a batch's labels come back at once and the rest stays on the CPU.
"""

from __future__ import annotations

import copy
import heapq
import re
from collections.abc import Iterable, Iterator

import torch
from torch import Tensor

from tagger.data.raw_text import NO_BOUNDARY, PARAGRAPH_SEPARATOR, SENTENCE_END, TOKEN_END
from tagger.model.segmenter import FEATURES, Segmenter
from tagger.segmentation.multiword import NOT_MULTIWORD, MultiwordExpander
from tagger.segmentation.tokens import BLANK_LINES, Token, TokenizedSentence

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")  # control characters that are not spaces
# the last visible character before a blank line or the end of the text: a sentence always ends there
_SENTENCE_END = re.compile(r"\S(?=\s*?\n[^\S\n]*\n|\s*\Z)")
TokenSpan = tuple[int, int, int, bool, int]  # start, end, boundary label, space after, multiword rule


def token_breaking_space(inner_spaces: str) -> re.Pattern[str]:
    """Matches a token's last character where the whitespace after it may not stand inside a token:
    a run of `inner_spaces` (possibly empty) followed by any other whitespace."""
    if not inner_spaces:
        return re.compile(r"\S(?=\s)")
    allowed = re.escape(inner_spaces)
    return re.compile(rf"\S(?=[{allowed}]*[^\S{allowed}])")


class ForcedLabels:
    """The least label each character of `text` may get, whatever the network says, read range by range
    in text order (each pattern is scanned once over the text, however many ranges): tokens end before
    whitespace that may not stand inside one, sentences before blank lines and at the end of the text.
    A control character (NUL, ESC, ...) is a token of its own, as the rule tokenizer makes it:
    treebanks hold none, so the network glued them to the word beside them."""

    def __init__(self, text: str, token_breaking: re.Pattern[str]) -> None:
        controls = (at for match in _CONTROL.finditer(text) for at in (match.start() - 1, match.start())
                    if at >= 0 and not text[at].isspace())
        self.token_ends = _Positions(heapq.merge((match.start() for match in token_breaking.finditer(text)), controls))
        self.sentence_ends = _Positions(match.start() for match in _SENTENCE_END.finditer(text))

    def labels(self, start: int, end: int) -> Tensor:
        """The labels of characters [start, end), which must not begin before the previous range's end."""
        forced = torch.zeros(end - start, dtype=torch.long)
        forced[[at - start for at in self.token_ends.within(start, end)]] = TOKEN_END
        forced[[at - start for at in self.sentence_ends.within(start, end)]] = SENTENCE_END
        return forced


class _Positions:
    """Ascending positions read once, range by range: those a range skips over are dropped."""

    def __init__(self, positions: Iterable[int]) -> None:
        self.positions = iter(positions)
        self.next = next(self.positions, None)

    def within(self, start: int, end: int) -> list[int]:
        taken = []
        while self.next is not None and self.next < end:
            if self.next >= start:
                taken.append(self.next)
            self.next = next(self.positions, None)
        return taken


class LearnedSegmenter:
    """A model's `Segmenter` as a tokenizer: `tokenize(text)` like the rule tokenizer's, `sentences(text)` streamed.

    It runs where `device` says (a copy of the network moves there), by default where the
    segmenter is: training scores the network it is training, on its own device. Windows run
    `batch_chars` characters at a time: enough to keep the cores busy, few enough that a batch's
    states (384 bytes a character) stay small.
    """

    def __init__(self, segmenter: Segmenter, device: torch.device | None = None, batch_chars: int = 32_768) -> None:
        self.segmenter = segmenter
        self.network = segmenter.network
        self.device = self.network.features.device
        if device is not None and device != self.device:
            self.network, self.device = copy.deepcopy(segmenter.network).to(device).eval(), device
        self.spaces = segmenter.network.features[:, FEATURES.index("space")].bool().cpu()  # per character id
        self.config = segmenter.config
        self.expander = MultiwordExpander.from_dict(segmenter.multiword)
        self.token_breaking = token_breaking_space(segmenter.inner_spaces)
        self.batch_chars = batch_chars

    def layout(self, length: int) -> tuple[int, int]:
        """(windows, stride) over `length` characters: as few windows as `config.window` allows, each
        as short as they can be, so a short paragraph costs as many sequential LSTM steps as it has
        characters (plus context), not a whole window's. Window i reads characters
        [i * stride - context, (i + 1) * stride + context) and keeps its centre."""
        n_windows = max(1, -(-length // (self.config.window - 2 * self.config.context)))
        return n_windows, max(1, -(-length // n_windows))

    def tokenize(self, text: str, offset: int = 0, new_paragraph: bool = True) -> list[TokenizedSentence]:
        """Sentences of `text` with offsets into it plus `offset`; a blank line always ends a sentence."""
        return list(self.sentences(text, offset, new_paragraph))

    def sentences(
        self, text: str, offset: int = 0, new_paragraph: bool = True, max_sentence_chars: int | None = None
    ) -> Iterator[TokenizedSentence]:
        """`tokenize`'s sentences one at a time, each as soon as the batch of windows that holds its end
        has run. With `max_sentence_chars`, a sentence that reaches it is cut after the token that does
        (unpunctuated text would otherwise gather its whole length in one sentence)."""
        if not text.strip():
            return
        paragraph_starts = (blank.end() for blank in BLANK_LINES.finditer(text))
        next_paragraph = next(paragraph_starts, None)
        tokens: list[Token] = []
        for batch in self._token_spans(text):
            for start, end, label, space_after, rule in batch:
                while next_paragraph is not None and next_paragraph <= start:
                    next_paragraph = next(paragraph_starts, None)
                    new_paragraph = True  # a blank line always closed the sentence before it
                form = text[start:end]
                words = self.expander.expand(form, rule) if rule != NOT_MULTIWORD else (form,)
                tokens.append(Token(form, start + offset, end + offset, words, space_after))
                first = tokens[0].start - offset
                if label == SENTENCE_END or (max_sentence_chars and end - first >= max_sentence_chars):
                    yield TokenizedSentence(tokens, text[first:end], new_paragraph)
                    tokens, new_paragraph = [], False

    def _token_spans(self, text: str) -> Iterator[list[TokenSpan]]:
        """Per batch of windows, the tokens whose last character its window centres hold, in text order.

        Of a batch's network states only the labels are kept, and the multiword head's choice at
        token ends; a token that started in an earlier batch is carried over by its start alone.
        """
        margin, context = len(PARAGRAPH_SEPARATOR), self.config.context
        n_windows, stride = self.layout(len(text) + 2 * margin)  # the text read between paragraph breaks
        per_batch = max(1, self.batch_chars // stride)
        last_end, pending_start = -1, None  # the last token end so far; the first visible character after it
        forced = ForcedLabels(text, self.token_breaking)
        for first in range(0, n_windows, per_batch):
            last = min(n_windows, first + per_batch)
            begin, stop = max(0, first * stride - margin), min(len(text), last * stride - margin)
            if begin >= stop:
                continue
            low = first * stride - margin - context  # the batch reads text positions [low, low + len(ids))
            ids = self._framed_ids(text, low, last * stride - margin + context)
            spaces = self.spaces[ids[begin - low : stop - low + 1]]  # [begin, stop], for the space after
            with torch.inference_mode():
                states = self.network(ids.unfold(0, stride + 2 * context, stride).to(self.device))
                states = states[:, context : context + stride].flatten(0, 1)[begin - low - context : stop - low - context]
                labels = self.network.boundary(states).argmax(-1).cpu()
                labels[spaces[:-1]] = NO_BOUNDARY
                labels = torch.maximum(labels, forced.labels(begin, stop))
                ends = labels.nonzero().squeeze(1)
                multiword = self.network.multiword(states[ends.to(self.device)]).cpu()
            # a token starts at the first non-space after the previous token; found for all at once
            non_spaces = (~spaces[:-1]).nonzero().squeeze(1) + begin
            starts = non_spaces[torch.searchsorted(non_spaces, torch.cat([ends.new_tensor([last_end]), ends[:-1] + begin]) + 1)]
            if len(ends) and pending_start is not None:
                starts[0] = pending_start
            if len(ends):
                last_end = int(ends[-1]) + begin
                after = non_spaces[non_spaces > last_end]
                pending_start = int(after[0]) if len(after) else None
            elif pending_start is None and len(non_spaces):
                pending_start = int(non_spaces[0])
            starts_list, ends_list = starts.tolist(), (ends + begin).tolist()
            rules = self._multiword_rules(text, multiword, starts_list, ends_list)
            yield list(zip(starts_list, [end + 1 for end in ends_list], labels[ends].tolist(),
                           spaces[ends + 1].tolist(), rules))

    def _framed_ids(self, text: str, low: int, high: int) -> Tensor:
        """Character ids of text positions [low, high) of the text framed by paragraph breaks (training
        reads every paragraph so: without them its first and last characters see only padding, and
        "sleep." at the very end stayed one token), 0 (padding) beyond the frame."""
        margin, length = len(PARAGRAPH_SEPARATOR), len(text)

        def clip(position: int, upper: int) -> int:
            return min(max(position, 0), upper)

        framed = (PARAGRAPH_SEPARATOR[clip(low + margin, margin) : clip(high + margin, margin)]
                  + text[clip(low, length) : clip(high, length)]
                  + PARAGRAPH_SEPARATOR[clip(low - length, margin) : clip(high - length, margin)])
        ids = torch.zeros(high - low, dtype=torch.long)
        at = max(low, -margin) - low
        ids[at : at + len(framed)] = self.segmenter.encode(framed)
        return ids

    def _multiword_rules(self, text: str, logits: Tensor, starts: list[int], ends: list[int]) -> list[int]:
        """Per token, its multiword rule: the most probable one that applies to it.

        Only tokens whose best rule overall is not NOT_MULTIWORD can get one, so most tokens skip
        the (Python) check of which rules apply.
        """
        rules = [NOT_MULTIWORD] * len(ends)
        for i in (logits.argmax(-1) != NOT_MULTIWORD).nonzero().squeeze(1).tolist():
            applicable = self.expander.applicable(text[starts[i] : ends[i] + 1])
            rules[i] = applicable[int(logits[i, applicable].argmax())]
        return rules
