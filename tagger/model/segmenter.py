"""A learned segmenter: raw text -> sentences of tokens (and their syntactic words), with exact offsets.

Every character of the text, whitespace included, gets one of three labels (`raw_text`'s
NO_BOUNDARY / TOKEN_END / SENTENCE_END) from a character-level BiLSTM. The text is cut into
fixed windows that overlap by `context` characters on each side; only a window's centre is
read, so every label is decided with at least `context` characters seen either way, and the
windows run in large batches. Whitespace is labelled like any character (always NO_BOUNDARY), so
a token may hold a space where the treebank has one (Estonian *20 000*); only line breaks and
tabs always end a token. A sentence may end without punctuation (Turkish ATIS has none): the
network learns where from content. The state at a token's last character also chooses its
multiword rule (`multiword.py`).

Characters unseen in training map to a placeholder of their Unicode class (upper-case letter,
digit, punctuation, ...), and every character carries those class flags as features, so a new
letter still reads as a letter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from tagger.data.raw_text import NO_BOUNDARY, PARAGRAPH_SEPARATOR, SENTENCE_END, TOKEN_END
from tagger.data.tokens import Token, TokenizedSentence
from tagger.data.vocab import Vocab
from tagger.errors import ModelFileError
from tagger.model.multiword import NOT_MULTIWORD, MultiwordExpander
from tagger.model.residual_lstm import SharedDropout, init_lstm

FORMAT = "segmenter/1"
# Placeholders of unseen characters, by what `char_class` says; they follow <pad> and <unk> in the vocabulary.
CHAR_CLASSES = ("<space>", "<upper>", "<lower>", "<letter>", "<digit>", "<punct>", "<symbol>", "<other>")
FEATURES = ("space", "newline", "upper", "lower", "letter", "digit", "punct", "symbol")
_BLANK_LINES = re.compile(r"\n[^\S\n]*\n\s*")
_TOKEN_BREAKING_SPACE = re.compile(r"\S(?=[^\S ])")  # before a line break or tab a token always ends
_NON_SPACE = re.compile(r"\S")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")  # control characters that are not spaces


def char_class(char: str) -> str:
    if char.isspace():
        return "<space>"
    category = unicodedata.category(char)
    if category == "Lu":
        return "<upper>"
    if category == "Ll":
        return "<lower>"
    return {"L": "<letter>", "N": "<digit>", "P": "<punct>", "S": "<symbol>"}.get(category[0], "<other>")


def char_features(char: str) -> list[float]:
    """The FEATURES flags of a character, of a class placeholder (its class's) or of <pad>/<unk> (none)."""
    if char in CHAR_CLASSES:
        cls = char
    elif len(char) == 1:
        cls = char_class(char)
    else:
        return [0.0] * len(FEATURES)
    flags = {"space": cls == "<space>", "newline": char in "\n\r\u2028\u2029",
             "upper": cls == "<upper>", "lower": cls == "<lower>",
             "letter": cls in ("<upper>", "<lower>", "<letter>"), "digit": cls == "<digit>",
             "punct": cls == "<punct>", "symbol": cls == "<symbol>"}
    return [float(flags[name]) for name in FEATURES]


@dataclass(frozen=True)
class SegmenterConfig:
    """Sizes of the network and of its windows; the values (chosen for speed) are `segmenter.network` in conf/train.yaml."""

    embedding_dim: int
    hidden_size: int
    layers: int
    dropout: float
    window: int  # characters per window at inference, context included: long windows waste less on overlap
    context: int  # characters on each side read only as context


def _force_boundaries(text: str, labels: Tensor) -> None:
    """Tokens end before line breaks and tabs; sentences end before blank lines and at the end of the text.
    A control character (NUL, ESC, ...) is a token of its own, as the rule tokenizer makes it: treebanks
    hold none, so the network glued them to the word beside them."""
    for match in _TOKEN_BREAKING_SPACE.finditer(text):
        labels[match.start()] = max(int(labels[match.start()]), TOKEN_END)
    for match in _CONTROL.finditer(text):
        for at in (match.start() - 1, match.start()):
            if at >= 0 and not text[at].isspace():
                labels[at] = max(int(labels[at]), TOKEN_END)
    for blank in [*_BLANK_LINES.finditer(text), None]:
        last = (blank.start() if blank else len(text)) - 1
        while last >= 0 and text[last].isspace():
            last -= 1
        if last >= 0:
            labels[last] = SENTENCE_END


class SegmenterNetwork(nn.Module):
    """Character ids [windows, time] -> BiLSTM states; heads for boundaries (3 classes) and multiword rules."""

    def __init__(self, features: Tensor, n_rules: int, config: SegmenterConfig) -> None:
        super().__init__()
        self.register_buffer("features", features, persistent=False)  # rebuilt from the vocabulary
        self.embedding = nn.Embedding(len(features), config.embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(
            config.embedding_dim + features.shape[1], config.hidden_size, num_layers=config.layers,
            batch_first=True, bidirectional=True, dropout=config.dropout if config.layers > 1 else 0.0,
        )
        init_lstm(self.lstm)
        self.dropout = SharedDropout(config.dropout)
        self.boundary = nn.Linear(2 * config.hidden_size, 3)
        self.multiword = nn.Sequential(  # applied at token ends only, so a hidden layer costs little
            nn.Linear(2 * config.hidden_size, 2 * config.hidden_size), nn.ReLU(),
            nn.Linear(2 * config.hidden_size, n_rules),
        )

    def forward(self, ids: Tensor) -> Tensor:
        """States [windows, time, 2*hidden]; the heads are applied by the caller where they are needed."""
        x = torch.cat([self.embedding(ids), self.features[ids]], dim=-1)
        states, _ = self.lstm(self.dropout(x))
        return self.dropout(states)


class Segmenter(nn.Module):
    """A character vocabulary, multiword rules and the network: `tokenize(text)` like the rule tokenizer's."""

    def __init__(self, chars: list[str], expander: MultiwordExpander, config: SegmenterConfig) -> None:
        super().__init__()
        self.vocab = Vocab([*CHAR_CLASSES, *chars])
        self.expander = expander
        self.config = config
        features = torch.tensor([char_features(char) for char in self.vocab.itos])
        self.network = SegmenterNetwork(features, expander.n_rules, config)

    def encode(self, text: str) -> Tensor:
        """Character ids of `text`; an unseen character gets its class placeholder."""
        get, stoi = self.vocab.stoi.get, self.vocab.stoi
        return torch.tensor([get(char) or stoi[char_class(char)] for char in text], dtype=torch.long)

    def class_placeholders(self) -> Tensor:
        """Per character id, the id of its class placeholder (what an unseen character of the class gets)."""
        first_char = 2 + len(CHAR_CLASSES)  # after <pad>, <unk> and the placeholders
        return torch.tensor([self.vocab.stoi[char_class(char)] if i >= first_char else i
                             for i, char in enumerate(self.vocab.itos)])

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
            framed = self.encode(PARAGRAPH_SEPARATOR + text + PARAGRAPH_SEPARATOR)
            ids = framed[margin : margin + len(text)]
            spaces = self.network.features[ids, FEATURES.index("space")].bool()
            states = self.states(framed)[margin : margin + len(text)]
            labels = self.network.boundary(states).argmax(-1)
            labels[spaces] = NO_BOUNDARY
            _force_boundaries(text, labels)
            ends = labels.nonzero().squeeze(1)
            # a token starts at the first non-space after the previous token; found for all at once
            non_spaces = (~spaces).nonzero().squeeze(1)
            starts = non_spaces[torch.searchsorted(non_spaces, torch.cat([ends.new_zeros(1), ends[:-1] + 1]))]
            space_after = torch.cat([spaces, spaces.new_ones(1)])[ends + 1]
            rules = self._multiword_rules(text, states[ends], starts.tolist(), ends.tolist())
        spans = zip(starts.tolist(), (ends + 1).tolist(), labels[ends].tolist(), space_after.tolist())
        return self._sentences(text, spans, rules, offset, new_paragraph)

    def _multiword_rules(self, text: str, states: Tensor, starts: list[int], ends: list[int]) -> dict[int, int]:
        """Per token (index) with a multiword rule, the rule id: the most probable one that applies to it.

        Only tokens whose best rule overall is not NOT_MULTIWORD can get one, so most tokens skip
        the (Python) check of which rules apply.
        """
        logits = self.network.multiword(states)
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
        paragraph_starts = [blank.end() for blank in _BLANK_LINES.finditer(text)][::-1]  # popped in text order
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

    def metadata(self) -> dict:
        """What rebuilds the segmenter beside its tensors (`state_dict()`): JSON-able."""
        return {
            "format": FORMAT,
            "config": asdict(self.config),
            "chars": self.vocab.to_list()[len(CHAR_CLASSES):],
            "multiword": self.expander.to_dict(),
        }

    @classmethod
    def from_metadata(cls, metadata: dict, tensors: dict[str, Tensor]) -> Segmenter:
        """The segmenter `metadata()` and `state_dict()` describe; ModelFileError for another format."""
        if metadata.get("format") != FORMAT:
            raise ModelFileError(f"segmenter format {metadata.get('format')!r} is not {FORMAT!r}")
        segmenter = cls(metadata["chars"], MultiwordExpander.from_dict(metadata["multiword"]),
                        SegmenterConfig(**metadata["config"]))
        segmenter.load_state_dict(tensors)
        return segmenter.eval()
