"""Vocabularies: string <-> id tables built from training data and saved inside the model file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tagger.data.conllu_io import Sentence
from tagger.data.lemma_rules import IDENTITY, lemma_targets

PAD, UNK = "<pad>", "<unk>"
BOW, EOW = "<bow>", "<eow>"  # begin/end-of-word markers: the first two items of every character vocabulary
LEMMA_COLUMN = "lemma"
EDIT_SCRIPTS = "edit-scripts"  # the lemma column's classes are edit scripts (tagger.data.lemma_rules), not lemmas


class Vocab:
    """An indexed list of strings; index 0 is padding, index 1 stands for anything unseen."""

    def __init__(self, items: Iterable[str]) -> None:
        self.itos: list[str] = [PAD, UNK]
        self.itos.extend(item for item in items if item not in (PAD, UNK))
        self.stoi: dict[str, int] = {item: i for i, item in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary items must be unique")

    @classmethod
    def from_counts(cls, counts: Counter[str], min_freq: int = 1) -> Vocab:
        """Items seen at least `min_freq` times, most frequent first (ties in first-seen order)."""
        return cls(item for item, count in counts.most_common() if count >= min_freq)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, item: str) -> bool:
        return item in self.stoi

    def index(self, item: str) -> int:
        return self.stoi.get(item, 1)

    def indices(self, items: Iterable[str]) -> list[int]:
        get = self.stoi.get
        return [get(item, 1) for item in items]

    def to_list(self) -> list[str]:
        return self.itos[2:]


@dataclass
class Vocabularies:
    """Everything that maps strings to ids for one model.

    `encodings` says which tag columns hold something other than their values as classes: the
    lemma column holds edit scripts (`{"lemma": "edit-scripts"}`). Models from before lemmas had
    none, so a lemma column there is whole lemmas.
    """

    words: Vocab
    chars: Vocab
    tags: dict[str, Vocab]
    encodings: dict[str, str] = field(default_factory=dict)

    def targets(self, sentence: Sentence, column: str) -> list[str]:
        """The classes a column's head learns for a sentence: its tags, or edit scripts for lemmas (PAD where `_`)."""
        values = sentence.column(column)
        if self.encodings.get(column) == EDIT_SCRIPTS:
            return lemma_targets(sentence.forms, values, PAD)
        return values

    @property
    def learned_columns(self) -> list[str]:
        """The columns the model predicts something for: a column left `_` throughout training (XPOS in
        tr_atis) keeps its head, whose only class is `_`, but is no tag the model has learned."""
        return [column for column, vocab in self.tags.items() if any(item != "_" for item in vocab.itos[2:])]

    def to_dict(self) -> dict:
        data = {
            "words": self.words.to_list(),
            "chars": self.chars.to_list(),
            "tags": {column: vocab.to_list() for column, vocab in self.tags.items()},
        }
        if self.encodings:
            data["encodings"] = self.encodings
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Vocabularies:
        return cls(
            words=Vocab(data["words"]),
            chars=Vocab(data["chars"]),
            tags={column: Vocab(items) for column, items in data["tags"].items()},
            encodings=dict(data.get("encodings", {})),
        )


def build_vocabularies(sentences: Sequence[Sentence], columns: Sequence[str], min_word_freq: int) -> Vocabularies:
    """Words seen `min_word_freq` times, every character (most frequent first) and each column's classes:
    its tags, or for the lemma column the edit scripts of train's (form, lemma) pairs, identity included."""
    encodings = {LEMMA_COLUMN: EDIT_SCRIPTS} if LEMMA_COLUMN in columns else {}
    classes = Vocabularies(Vocab([]), Vocab([]), {}, encodings)
    word_counts: Counter[str] = Counter()
    char_counts: Counter[str] = Counter()
    tag_counts: dict[str, Counter[str]] = {column: Counter() for column in columns}
    for sentence in sentences:
        word_counts.update(sentence.forms)
        for column in columns:
            tag_counts[column].update(classes.targets(sentence, column))
    for form, count in word_counts.items():
        for char in form:
            char_counts[char] += count
    if LEMMA_COLUMN in columns:
        # The lemma classes: every edit script of train, even one seen once (no rare script is
        # merged away; this is the one place that decides), plus IDENTITY, which applies to every
        # form, so a masked softmax always has a class to choose.
        tag_counts[LEMMA_COLUMN].pop(PAD, None)
        tag_counts[LEMMA_COLUMN].setdefault(IDENTITY, 1)
    return Vocabularies(
        words=Vocab.from_counts(word_counts, min_word_freq),
        chars=Vocab([BOW, EOW] + [c for c, _ in char_counts.most_common()]),
        tags={column: Vocab.from_counts(counts) for column, counts in tag_counts.items()},
        encodings=encodings,
    )
