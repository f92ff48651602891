"""The learned segmenter run on text: raw text -> sentences of tokens (and their words), with exact offsets.

The text is cut into fixed windows that overlap by `context` characters on each side; only a
window's centre is read, so every label is decided with at least `context` characters seen
either way, and the windows run in large batches. Whitespace is labelled like any character
(always NO_BOUNDARY), so a token may hold a space where the treebank has one (French
*20 000*); any other whitespace (line breaks, tabs, no-break spaces where the treebank has none
inside a form) always ends a token, whatever the network says. A sentence may end without punctuation
(Turkish ATIS has none): the network learns where from content. The state at a token's last
character also chooses its multiword rule (`multiword.py`). The network itself, and the
character encoding training shares, are `tagger.model.segmenter`. On a GPU only the network runs
there (in float32); the labels come back once per text and the rest stays on the CPU.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable

import torch
from torch import Tensor

from tagger.data.raw_text import NO_BOUNDARY, PARAGRAPH_SEPARATOR, SENTENCE_END, TOKEN_END
from tagger.model.segmenter import FEATURES, Segmenter
from tagger.segmentation.multiword import NOT_MULTIWORD, MultiwordExpander
from tagger.segmentation.tokens import BLANK_LINES, Token, TokenizedSentence



_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")  # control characters that are not spaces


def token_breaking_space(inner_spaces: str) -> re.Pattern[str]:
    """Matches a token's last character where the whitespace after it may not stand inside a token:
    a run of `inner_spaces` (possibly empty) followed by any other whitespace."""
    if not inner_spaces:
        return re.compile(r"\S(?=\s)")
    allowed = re.escape(inner_spaces)
    return re.compile(rf"\S(?=[{allowed}]*[^\S{allowed}])")


def _force_boundaries(text: str, labels: Tensor, token_breaking: re.Pattern[str]) -> None:
    """Tokens end before whitespace that may not stand inside one; sentences end before blank lines
    and at the end of the text. A control character (NUL, ESC, ...) is a token of its own, as the
    rule tokenizer makes it: treebanks hold none, so the network glued them to the word beside them."""
    for match in token_breaking.finditer(text):
        labels[match.start()] = max(int(labels[match.start()]), TOKEN_END)
    for match in _CONTROL.finditer(text):
        for at in (match.start() - 1, match.start()):
            if at >= 0 and not text[at].isspace():
                labels[at] = max(int(labels[at]), TOKEN_END)
    for blank in [*BLANK_LINES.finditer(text), None]:
        last = (blank.start() if blank else len(text)) - 1
        while last >= 0 and text[last].isspace():
            last -= 1
        if last >= 0:
            labels[last] = SENTENCE_END


class LearnedSegmenter:
    """A model's `Segmenter` as a tokenizer: `tokenize(text)` like the rule tokenizer's.

    It runs where `device` says (a copy of the network moves there), by default where the
    segmenter is: training scores the network it is training, on its own device.
    """

    def __init__(self, segmenter: Segmenter, device: torch.device | None = None) -> None:
        self.segmenter = segmenter
        self.network = segmenter.network
        self.device = self.network.features.device
        if device is not None and device != self.device:
            self.network, self.device = copy.deepcopy(segmenter.network).to(device).eval(), device
        self.spaces = segmenter.network.features[:, FEATURES.index("space")].bool().cpu()  # per character id
        self.config = segmenter.config
        self.expander = MultiwordExpander.from_dict(segmenter.multiword)
        self.token_breaking = token_breaking_space(segmenter.inner_spaces)

    def windows(self, ids: Tensor) -> Tensor:
        """[windows, length] ids covering `ids` in overlapping windows, padded with 0 at both ends.

        As few windows as `config.window` allows, each as short as they can be: a short paragraph
        then costs as many sequential LSTM steps as it has characters (plus context), not a
        whole window's.
        """
        context = self.config.context
        n_windows = max(1, -(-len(ids) // (self.config.window - 2 * context)))
        stride = max(1, -(-len(ids) // n_windows))
        padded = ids.new_zeros(n_windows * stride + 2 * context)
        padded[context : context + len(ids)] = ids
        return padded.unfold(0, stride + 2 * context, stride)

    def states(self, ids: Tensor, windows_per_batch: int = 1024) -> Tensor:
        """The network's state at every character of the text [chars, 2*hidden], read from window centres.

        Windows run in batches of `windows_per_batch` (about 200,000 characters), so memory stays
        bounded on a long text while each batch is still large enough to keep the cores busy.
        """
        context = self.config.context
        windows = self.windows(ids)
        centres = [
            self.network(batch)[:, context : windows.shape[1] - context] for batch in windows.split(windows_per_batch)
        ]
        return torch.cat(centres).flatten(0, 1)[: len(ids)]

    def tokenize(self, text: str, offset: int = 0, new_paragraph: bool = True) -> list[TokenizedSentence]:
        """Sentences of `text` with offsets into it plus `offset`; a blank line always ends a sentence."""
        if not text.strip():
            return []
        with torch.inference_mode():
            # the text read between paragraph breaks, as training reads every paragraph: without them
            # its first and last characters see only padding ("sleep." at the very end stayed one token)
            margin = len(PARAGRAPH_SEPARATOR)
            framed = self.segmenter.encode(PARAGRAPH_SEPARATOR + text + PARAGRAPH_SEPARATOR)
            spaces = self.spaces[framed[margin : margin + len(text)]]
            states = self.states(framed.to(self.device))[margin : margin + len(text)]
            labels = self.network.boundary(states).argmax(-1).cpu()
            labels[spaces] = NO_BOUNDARY
            _force_boundaries(text, labels, self.token_breaking)
            ends = labels.nonzero().squeeze(1)
            # a token starts at the first non-space after the previous token; found for all at once
            non_spaces = (~spaces).nonzero().squeeze(1)
            starts = non_spaces[torch.searchsorted(non_spaces, torch.cat([ends.new_zeros(1), ends[:-1] + 1]))]
            space_after = torch.cat([spaces, spaces.new_ones(1)])[ends + 1]
            rules = self._multiword_rules(text, states[ends.to(self.device)], starts.tolist(), ends.tolist())
        spans = zip(starts.tolist(), (ends + 1).tolist(), labels[ends].tolist(), space_after.tolist())
        return self._sentences(text, spans, rules, offset, new_paragraph)

    def _multiword_rules(self, text: str, states: Tensor, starts: list[int], ends: list[int]) -> dict[int, int]:
        """Per token (index) with a multiword rule, the rule id: the most probable one that applies to it.

        Only tokens whose best rule overall is not NOT_MULTIWORD can get one, so most tokens skip
        the (Python) check of which rules apply.
        """
        logits = self.network.multiword(states).cpu()
        rules: dict[int, int] = {}
        for i in (logits.argmax(-1) != NOT_MULTIWORD).nonzero().squeeze(1).tolist():
            applicable = self.expander.applicable(text[starts[i] : ends[i] + 1])
            best = applicable[int(logits[i, applicable].argmax())]
            if best != NOT_MULTIWORD:
                rules[i] = best
        return rules

    def _sentences(
        self,
        text: str,
        spans: Iterable[tuple[int, int, int, bool]],  # per token: start, end, boundary label, space after
        rules: dict[int, int],
        offset: int,
        new_paragraph: bool,
    ) -> list[TokenizedSentence]:
        sentences: list[TokenizedSentence] = []
        tokens: list[Token] = []
        paragraph_starts = [blank.end() for blank in BLANK_LINES.finditer(text)][::-1]  # popped in text order
        for i, (start, end, label, space_after) in enumerate(spans):
            while paragraph_starts and paragraph_starts[-1] <= start:
                paragraph_starts.pop()
                new_paragraph = True  # a blank line always closed the sentence before it
            form = text[start:end]
            words = self.expander.expand(form, rules[i]) if i in rules else (form,)
            tokens.append(Token(form, start + offset, end + offset, words, space_after))
            if label == SENTENCE_END:
                sentences.append(TokenizedSentence(tokens, text[tokens[0].start - offset : end], new_paragraph))
                tokens, new_paragraph = [], False
        return sentences
