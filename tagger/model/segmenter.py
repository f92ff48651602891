"""The learned segmenter's network and what travels with it in the model file.

Every character of a text, whitespace included, gets one of three labels (`raw_text`'s
NO_BOUNDARY / TOKEN_END / SENTENCE_END) from a character-level BiLSTM; the state at a token's
last character also chooses its multiword rule. This module holds the network, its character
vocabulary and the character encoding that training and decoding share; running it on text
(windows, forced boundaries, tokens and sentences) is `tagger.segmentation.learned`, and the
multiword rules it carries as data are `tagger.segmentation.multiword`'s.

Characters unseen in training map to a placeholder of their Unicode class (upper-case letter,
digit, punctuation, ...), and every character carries those class flags as features, so a new
letter still reads as a letter.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from tagger.data.vocab import Vocab
from tagger.errors import ModelFileError
from tagger.model.residual_lstm import SharedDropout, init_lstm

FORMAT = "segmenter/1"
# Placeholders of unseen characters, by what `char_class` says; they follow <pad> and <unk> in the vocabulary.
CHAR_CLASSES = ("<space>", "<upper>", "<lower>", "<letter>", "<digit>", "<punct>", "<symbol>", "<other>")
FEATURES = ("space", "newline", "upper", "lower", "letter", "digit", "punct", "symbol")
_MULTIWORD_OUTPUT = "network.multiword.2.weight"  # [rules, hidden]: how many multiword rules a saved segmenter has


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
    """The network with its character vocabulary, window sizes and multiword rules (as data).

    `multiword` is the rules' own JSON form (`MultiwordExpander.to_dict`), kept opaque here so the
    model file loads a segmenter without the decoding code; `n_rules` sizes the rule head.
    `inner_spaces` are the whitespace characters the training treebank has inside forms (French
    *20 000*): no other whitespace may stand inside a token. Files from before it was recorded
    allowed the plain space.
    """

    def __init__(
        self, chars: list[str], multiword: dict, n_rules: int, config: SegmenterConfig, inner_spaces: str = " "
    ) -> None:
        super().__init__()
        self.vocab = Vocab([*CHAR_CLASSES, *chars])
        self.multiword = multiword
        self.inner_spaces = inner_spaces
        self.config = config
        features = torch.tensor([char_features(char) for char in self.vocab.itos])
        self.network = SegmenterNetwork(features, n_rules, config)

    def encode(self, text: str) -> Tensor:
        """Character ids of `text`; an unseen character gets its class placeholder."""
        get, stoi = self.vocab.stoi.get, self.vocab.stoi
        return torch.tensor([get(char) or stoi[char_class(char)] for char in text], dtype=torch.long)

    def metadata(self) -> dict:
        """What rebuilds the segmenter beside its tensors (`state_dict()`): JSON-able."""
        return {
            "format": FORMAT,
            "config": asdict(self.config),
            "chars": self.vocab.to_list()[len(CHAR_CLASSES):],
            "multiword": self.multiword,
            "inner_spaces": self.inner_spaces,
        }

    @classmethod
    def from_metadata(cls, metadata: dict, tensors: dict[str, Tensor]) -> Segmenter:
        """The segmenter `metadata()` and `state_dict()` describe; ModelFileError for another format."""
        if metadata.get("format") != FORMAT:
            raise ModelFileError(f"segmenter format {metadata.get('format')!r} is not {FORMAT!r}")
        n_rules = tensors[_MULTIWORD_OUTPUT].shape[0]
        segmenter = cls(metadata["chars"], metadata["multiword"], n_rules, SegmenterConfig(**metadata["config"]),
                        metadata.get("inner_spaces", " "))
        segmenter.load_state_dict(tensors)
        return segmenter.eval()
