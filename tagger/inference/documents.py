"""What `Tagger.tag` returns: sentences of tagged tokens, and their CoNLL-U, JSON and TSV forms.

A `TaggedSentence` wraps the lossless `Sentence` record (so CoNLL-U input comes back with only
the predicted columns changed) plus, for raw text, each word's character offsets. Token objects
are built only when asked for: streaming to CoNLL-U never creates them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from tagger.data.conllu_io import COLUMNS, Sentence
from tagger.data.readers import NER_COLUMN, is_entity_column
from tagger.inference.entities import entity_spans

# what `token.upos` etc. may name: None where the model does not predict it (an NER model has no upos)
_COLUMN_NAMES = frozenset(COLUMNS[2:])


@dataclass(frozen=True, slots=True)
class MultiwordToken:
    """A surface token that stands for several syntactic words (*can't* = *ca* + *n't*, *du* = *de* + *le*)."""

    id: str  # the CoNLL-U range, e.g. "2-3"
    form: str
    start: int | None = None  # offsets into raw input, when known
    end: int | None = None


@dataclass(slots=True)
class TaggedToken:
    """One syntactic word: its form, predicted columns, offsets into raw input and, on request, probabilities.

    Columns read as attributes or items: `token.upos`, `token["misc:NER"]`; a CoNLL-U column the model
    does not predict reads as None (`token.upos` of an NER model), so one loop serves every model.
    The entity tag is `token.ner`. `probabilities` holds, per column, the probability the model
    gives the predicted tag; `top_k`, per column, the k most probable tags with theirs (see `Tagger.tag`).
    """

    id: int
    form: str
    tags: dict[str, str]
    start: int | None = None
    end: int | None = None
    probabilities: dict[str, float] | None = None
    top_k: dict[str, list[tuple[str, float]]] | None = None
    multiword: MultiwordToken | None = None  # the surface token this word is part of, if any

    def __getitem__(self, column: str) -> str:
        return self.tags[column]

    def __getattr__(self, name: str) -> str | None:
        if name != "tags" and name in self.tags:
            return self.tags[name]
        if name in _COLUMN_NAMES:
            return None
        raise AttributeError(f"{type(self).__name__} has no attribute or predicted column {name!r}")

    @property
    def ner(self) -> str | None:
        """The entity tag (IOB2: `B-PER`, `I-PER`, `O`; the `misc:NER` column); None for a model without entities."""
        return self.tags.get(NER_COLUMN)

    @property
    def lemma(self) -> str | None:
        """The predicted lemma; None for a model that does not lemmatise."""
        return self.tags.get("lemma")

    @property
    def features(self) -> dict[str, str]:
        """FEATS as a dict (`{"Number": "Plur", "Person": "3"}`); empty for `_` or a model without FEATS."""
        feats = self.tags.get("feats", "_")
        if feats in ("_", ""):
            return {}
        return dict(item.partition("=")[::2] for item in feats.split("|"))

    def to_dict(self) -> dict:
        data: dict = {"id": self.id, "form": self.form}
        if self.start is not None:
            data["start"], data["end"] = self.start, self.end
        data.update(self.tags)
        if NER_COLUMN in self.tags:  # the documented name; "misc:NER" stays for readers written before it
            data["ner"] = self.tags[NER_COLUMN]
        if self.probabilities is not None:
            data["probabilities"] = self.probabilities
        if self.top_k is not None:
            data["top_k"] = {column: [[tag, p] for tag, p in ranked] for column, ranked in self.top_k.items()}
        return data


@dataclass(slots=True)
class TaggedSentence:
    """A sentence record, which columns the tagger fills, and (for raw text) each word's offsets.

    Iterating gives its words (`for token in sentence`); `tokens` is built once, on first use.
    """

    sentence: Sentence
    columns: Sequence[str] = ()
    spans: list[tuple[int, int]] | None = None  # per word, [start, end) into the raw input
    multiword_spans: dict[int, tuple[int, int]] = field(default_factory=dict)  # per range row
    _tokens: list[TaggedToken] | None = field(default=None, repr=False)

    @property
    def text(self) -> str | None:
        for comment in self.sentence.comments:
            if comment.startswith("# text = "):
                return comment[len("# text = "):]
        return None

    @property
    def tokens(self) -> list[TaggedToken]:
        if self._tokens is None:
            self._tokens = self._build_tokens()
        return self._tokens

    def __iter__(self) -> Iterator[TaggedToken]:
        return iter(self.tokens)

    def _build_tokens(self) -> list[TaggedToken]:
        sentence = self.sentence
        values = {column: sentence.column(column) for column in self.columns}
        probabilities, top_k = sentence.probabilities, sentence.top_k
        multiword = {word: token for token in self.multiword_tokens for word in _range(token.id)}
        tokens = []
        for i, form in enumerate(sentence.forms):
            start, end = self.spans[i] if self.spans else (None, None)
            tokens.append(TaggedToken(
                i + 1, form, {c: v[i] for c, v in values.items()}, start, end,
                {c: probabilities[c][i] for c in probabilities} if probabilities else None,
                {c: top_k[c][i] for c in top_k} if top_k else None,
                multiword.get(i + 1),
            ))
        return tokens

    @property
    def multiword_tokens(self) -> list[MultiwordToken]:
        """The sentence's multiword tokens (CoNLL-U range lines), with offsets for raw text."""
        found = []
        for row in self.sentence.rows:
            if "-" in row[0]:
                start, end = self.multiword_spans.get(int(row[0].partition("-")[0]), (None, None))
                found.append(MultiwordToken(row[0], row[1], start, end))
        return found

    @property
    def entities(self) -> list[dict]:
        """The entity spans of the NER column(s): `text`, `type`, `token_start`/`token_end` (0-based,
        end exclusive) and, for raw text, character `start`/`end`; a `column` key when the model tags
        several entity columns. Empty for a model without one."""
        entity_columns = self._entity_columns()
        return [
            {**entity, "column": column} if len(entity_columns) > 1 else entity
            for column in entity_columns
            for entity in entity_spans(self.sentence.column(column), self.sentence.forms, self.spans)
        ]

    def _entity_columns(self) -> list[str]:
        return [c for c in self.columns if is_entity_column(c, [self.sentence])]

    def __len__(self) -> int:
        return len(self.sentence)

    def to_conllu(self) -> str:
        return self.sentence.to_conllu() if self.sentence.rows else ""

    def to_dict(self) -> dict:
        data: dict = {"text": self.text} if self.text is not None else {}
        data["tokens"] = [token.to_dict() for token in self.tokens]
        if self._entity_columns():  # a NER model lists its spans, even when there are none
            data["entities"] = self.entities
        multiword = [
            {"id": token.id, "form": token.form, **({"start": token.start, "end": token.end} if token.start is not None else {})}
            for token in self.multiword_tokens
        ]
        if multiword:
            data["multiword_tokens"] = multiword
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def to_tsv(self) -> str:
        """Every CoNLL-U row: ID, FORM, each predicted column, then its probability and top-k tags
        (`NOUN:0.9120 PROPN:0.0610`) when computed; multiword range rows and empty nodes have `_` there.
        The columns are named by `tsv_header`."""
        sentence = self.sentence
        columns = [sentence.column(c) for c in self.columns]
        columns += [[f"{p:.4f}" for p in sentence.probabilities[c]] for c in self.columns if c in sentence.probabilities]
        columns += [[" ".join(f"{tag}:{p:.4f}" for tag, p in ranked) for ranked in sentence.top_k[c]]
                    for c in self.columns if c in sentence.top_k]
        by_row = dict(zip(sentence.word_rows, zip(*columns))) if columns else {}
        unpredicted = ("_",) * len(columns)
        return "".join("\t".join((row[0], row[1], *by_row.get(i, unpredicted))) + "\n"
                       for i, row in enumerate(sentence.rows)) + "\n"


def tsv_header(columns: Sequence[str], probabilities: bool = False, top_k: int = 0) -> str:
    """The TSV output's header line, a comment (`# id form upos ...`) that tools skipping `#` lines pass over."""
    names = ["id", "form", *columns]
    names += [f"{column}:probability" for column in columns] if probabilities else []
    names += [f"{column}:top{top_k}" for column in columns] if top_k else []
    return "# " + "\t".join(names) + "\n"


class TaggedDocument(Sequence[TaggedSentence]):
    """The result of `Tagger.tag`: a sequence of tagged sentences, writable as CoNLL-U or JSON."""

    def __init__(self, sentences: list[TaggedSentence]) -> None:
        self.sentences = sentences

    def __getitem__(self, index):
        return self.sentences[index]

    def __len__(self) -> int:
        return len(self.sentences)

    def __repr__(self) -> str:
        return f"TaggedDocument({len(self.sentences)} sentences, {sum(map(len, self.sentences))} words)"

    def to_conllu(self) -> str:
        return "".join(sentence.to_conllu() for sentence in self.sentences)

    def to_dict(self) -> dict:
        """`{"sentences": [...]}`, each sentence its `TaggedSentence.to_dict()`: the one shape of a tagged document."""
        return {"sentences": [s.to_dict() for s in self.sentences]}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)


def _range(token_id: str) -> range:
    first, _, last = token_id.partition("-")
    return range(int(first), int(last) + 1)


OUTPUT_FORMATS = {
    "conllu": TaggedSentence.to_conllu,
    "tsv": TaggedSentence.to_tsv,
    "json": lambda sentence: sentence.to_json() + "\n",  # JSON Lines: one sentence a line, streamable
}
