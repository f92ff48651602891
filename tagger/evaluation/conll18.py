"""Scores of a system's segmentation and tags against gold, the way the CoNLL 2018 shared task computes them.

When the system tokenised the raw text itself, its words are not the gold words, so nothing can
be compared position by position. Both files are reduced to the same string (every token's FORM
with whitespace removed, concatenated); tokens and sentences are then character spans of that
string and match when their spans do (Tokens, Sentences F1). Words outside multiword tokens
match with their token. Inside a *multiword region* (the smallest stretch that holds whole
multiword tokens of either file, e.g. gold *du* = *de le*) words cannot be placed by characters,
so the two word sequences are aligned by their longest common subsequence of lower-cased forms
(Words F1). Tags and lemmas are then scored over the aligned words: precision against the system's
words, recall against gold's (UPOS, XPOS, UFeats, AllTags, Lemmas F1).

Two conventions of the official script `conll18_ud_eval.py` are kept so that figures compare with
published ones: UFeats counts only the 21 universal features of UD v2 (order-insensitive), and
a gold lemma `_` (not annotated) counts as right whatever the system says. Parsing scores (UAS,
LAS, ...) are left out: this tagger predicts no trees.
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tagger.data.conllu_io import Sentence
from tagger.errors import DataFormatError

METRICS = ("Tokens", "Sentences", "Words", "UPOS", "XPOS", "UFeats", "AllTags", "Lemmas")
UNIVERSAL_FEATURES = frozenset({
    "PronType", "NumType", "Poss", "Reflex", "Foreign", "Abbr", "Gender", "Animacy", "Number", "Case",
    "Definite", "Degree", "VerbForm", "Mood", "Tense", "Aspect", "Voice", "Evident", "Polarity",
    "Person", "Polite",
})  # the features of UD v2 as the 2018 shared task knew them: layered ones (Number[psor]) are not among them


@dataclass(frozen=True, slots=True)
class Score:
    """Counts behind one metric; precision, recall, F1 and accuracy over aligned words, in percent."""

    correct: int
    gold: int
    system: int
    aligned: int | None = None  # words aligned, for metrics scored over them

    @property
    def precision(self) -> float:
        return 100.0 * self.correct / self.system if self.system else 0.0

    @property
    def recall(self) -> float:
        return 100.0 * self.correct / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        total = self.gold + self.system
        return 200.0 * self.correct / total if total else 0.0

    @property
    def aligned_accuracy(self) -> float | None:
        """How often the tag is right where the word was found: the tagger's share, free of segmentation errors."""
        if self.aligned is None:
            return None
        return 100.0 * self.correct / self.aligned if self.aligned else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass(frozen=True, slots=True)
class _Word:
    start: int  # [start, end) of its token in the concatenated characters
    end: int
    in_multiword: bool
    form: str  # lower-cased: multiword regions align forms regardless of case
    lemma: str
    upos: str
    xpos: str
    feats: str  # normalised: sorted, only the features scored


@dataclass(slots=True)
class _Segmentation:
    """A file reduced to what the scores need: characters, token and sentence spans, words."""

    characters: list[str] = field(default_factory=list)
    tokens: list[tuple[int, int]] = field(default_factory=list)
    sentences: list[tuple[int, int]] = field(default_factory=list)
    words: list[_Word] = field(default_factory=list)
    sentence_lines: list[int | None] = field(default_factory=list)  # to name the line of a mismatch


def evaluate_conll18(
    gold: Sequence[Sentence], system: Sequence[Sentence], universal_features_only: bool = True
) -> dict[str, Score]:
    """Tokens, Sentences, Words, UPOS, XPOS, UFeats, AllTags and Lemmas scores of `system` against `gold`.

    Both must spell the same text (whitespace aside); otherwise DataFormatError says where they part.
    `universal_features_only=False` compares whole FEATS, as scoring on gold tokens does.
    """
    gold_file = _segmentation(gold, "gold", universal_features_only)
    system_file = _segmentation(system, "system", universal_features_only)
    _check_same_characters(gold_file, system_file)
    pairs = [(gold_file.words[g], system_file.words[s]) for g, s in _align_words(gold_file.words, system_file.words)]

    def over_words(right: Callable[[_Word, _Word], bool]) -> Score:
        correct = sum(1 for g, s in pairs if right(g, s))
        return Score(correct, len(gold_file.words), len(system_file.words), len(pairs))

    return {
        "Tokens": _span_score(gold_file.tokens, system_file.tokens),
        "Sentences": _span_score(gold_file.sentences, system_file.sentences),
        "Words": Score(len(pairs), len(gold_file.words), len(system_file.words)),
        "UPOS": over_words(lambda g, s: g.upos == s.upos),
        "XPOS": over_words(lambda g, s: g.xpos == s.xpos),
        "UFeats": over_words(lambda g, s: g.feats == s.feats),
        "AllTags": over_words(lambda g, s: (g.upos, g.xpos, g.feats) == (s.upos, s.xpos, s.feats)),
        "Lemmas": over_words(lambda g, s: g.lemma == "_" or g.lemma == s.lemma),
    }


def f1_scores(scores: Mapping[str, Score]) -> dict[str, float]:
    """The headline figure of each metric: {"Tokens": 99.25, ...}."""
    return {name: score.f1 for name, score in scores.items()}


def _segmentation(sentences: Sequence[Sentence], source: str, universal_features_only: bool) -> _Segmentation:
    result = _Segmentation()
    for sentence in sentences:
        sentence_start = len(result.characters)
        result.sentence_lines.append(sentence.line)
        multiword_until, multiword_span = 0, (0, 0)
        for row in sentence.rows:
            first, dash, last = row[0].partition("-")
            if "." in row[0]:
                continue  # empty nodes are not scored
            if not dash and int(first) <= multiword_until:
                result.words.append(_word(row, row[1], multiword_span, True, universal_features_only))
                continue
            form = "".join(c for c in row[1] if unicodedata.category(c) != "Zs")
            if not form:
                raise DataFormatError(source, sentence.line, f"token {row[0]} has no FORM besides spaces")
            span = (len(result.characters), len(result.characters) + len(form))
            result.characters.extend(form)
            result.tokens.append(span)
            if dash:
                multiword_until, multiword_span = int(last), span
            else:
                result.words.append(_word(row, form, span, False, universal_features_only))
        result.sentences.append((sentence_start, len(result.characters)))
    return result


def _word(row: list[str], form: str, span: tuple[int, int], in_multiword: bool, universal_features_only: bool) -> _Word:
    # a plain word's form is its token's, spaces removed; the official script aligns those forms too
    features = [] if row[5] == "_" else row[5].split("|")
    if universal_features_only:
        features = [f for f in features if f.partition("=")[0] in UNIVERSAL_FEATURES]
    return _Word(*span, in_multiword, form.lower(), row[2], row[3], row[4], "|".join(sorted(features)))


def _check_same_characters(gold: _Segmentation, system: _Segmentation) -> None:
    if gold.characters == system.characters:
        return
    index = next(
        (i for i, (g, s) in enumerate(zip(gold.characters, system.characters)) if g != s),
        min(len(gold.characters), len(system.characters)),
    )
    starts = [start for start, _ in system.sentences]
    line = system.sentence_lines[max(bisect.bisect_right(starts, index) - 1, 0)] if starts else None
    raise DataFormatError(
        "system",
        line,
        "the system's tokens do not spell the gold text (whitespace aside): from character "
        f"{index}, gold has {''.join(gold.characters[index:index + 20])!r}, "
        f"the system {''.join(system.characters[index:index + 20])!r}",
    )


def _span_score(gold: list[tuple[int, int]], system: list[tuple[int, int]]) -> Score:
    # spans of one file never share a start (every token has a character), so sets compare them
    return Score(len(set(gold) & set(system)), len(gold), len(system))


def _align_words(gold: Sequence[_Word], system: Sequence[_Word]) -> list[tuple[int, int]]:
    """(gold index, system index) of aligned words: by token span, or by LCS inside multiword regions."""
    pairs: list[tuple[int, int]] = []
    g = s = 0
    while g < len(gold) and s < len(system):
        if gold[g].in_multiword or system[s].in_multiword:
            g_first, s_first, g, s = _multiword_region(gold, system, g, s)
            pairs += _lcs_pairs(gold, system, g_first, g, s_first, s)
        elif (gold[g].start, gold[g].end) == (system[s].start, system[s].end):
            pairs.append((g, s))
            g, s = g + 1, s + 1
        elif gold[g].start <= system[s].start:
            g += 1
        else:
            s += 1
    return pairs


def _multiword_region(gold: Sequence[_Word], system: Sequence[_Word], g: int, s: int) -> tuple[int, int, int, int]:
    """The word ranges [g_first, g_end), [s_first, s_end) of the region that starts at gold[g] or system[s]."""
    if gold[g].in_multiword:
        end = gold[g].end
        if not system[s].in_multiword and system[s].start < gold[g].start:
            s += 1  # a plain system word before the multiword token stays outside the region
    else:
        end = system[s].end
        if gold[g].start < system[s].start:
            g += 1
    g_first, s_first = g, s
    while _inside(gold, g, end) or _inside(system, s, end):
        if g < len(gold) and (s >= len(system) or gold[g].start <= system[s].start):
            end = max(end, gold[g].end) if gold[g].in_multiword else end
            g += 1
        else:
            end = max(end, system[s].end) if system[s].in_multiword else end
            s += 1
    return g_first, s_first, g, s


def _inside(words: Sequence[_Word], i: int, end: int) -> bool:
    """Whether words[i] belongs to a region ending at `end`: a multiword token that starts before it
    (it then stretches the region), or a plain word that ends within it."""
    if i >= len(words):
        return False
    return words[i].start < end if words[i].in_multiword else words[i].end <= end


def _lcs_pairs(
    gold: Sequence[_Word], system: Sequence[_Word], g_first: int, g_end: int, s_first: int, s_end: int
) -> list[tuple[int, int]]:
    """Words of a multiword region paired along a longest common subsequence of their forms.

    Ties go as in the official script: equal forms pair at once, otherwise a gold word is skipped
    if that loses nothing, else a system word.
    """
    n, m = g_end - g_first, s_end - s_first
    if n == 0 or m == 0:
        return []
    # longest[i][j]: LCS length of gold words i.. and system words j.. of the region
    longest = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if gold[g_first + i].form == system[s_first + j].form:
                longest[i][j] = longest[i + 1][j + 1] + 1
            else:
                longest[i][j] = max(longest[i + 1][j], longest[i][j + 1])
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < n and j < m:
        if gold[g_first + i].form == system[s_first + j].form:
            pairs.append((g_first + i, s_first + j))
            i, j = i + 1, j + 1
        elif longest[i][j] == longest[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs
