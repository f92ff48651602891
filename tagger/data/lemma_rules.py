"""Lemmas as edit scripts: each (form, lemma) pair becomes a rule string, a class for a softmax head.

A rule is `CASING|PREFIX|SUFFIX`, computed UDPipe 2 style on lower-cased strings: the longest
common substring of form and lemma is copied; PREFIX `-n+text` strips n characters from the
start of the form and puts `text` there, SUFFIX does the same at the end (`gemacht` -> `machen`
is `L0|-2+|-1+en`). A lemma sharing no character with its form is written out whole (`went` ->
`go` is `L0|=go`). The edit strips character *counts*, not recorded strings: agglutinated endings
are seldom seen whole, so on test words whose form training never saw, rules that strip a recorded
string could express 90.8% of tr_imst lemmas (et_ewt 89.8%), rules that strip a count 99.7% (96.1%).

CASING is `K` (the copied part keeps the form's casing: `USA`, `iPhone`, `Paris`) or runs of
upper/lower case over the lemma, each starting at an index counted from the start, or from the
end when negative (`L0` all lower, `U0,L1` capitalised). `K` is used only for lemmas that are not
all lower case, so `running` and `Running` share `L0|-0+|-4+`.

Separators inside the lemma (ko_gsd `수석+연구원+은`, et_ewt `jalg_palli_klubi`) that the form
lacks are not edited in: a fourth field records where each goes, counted from the end of the edited
word (`L0|-0+|-0+|+4+1`), so stems split at the same distances from the end share one rule. On
ko_gsd this cuts the rules from 5841 to 1627 and lifts the test words they can express from 94.1% to
98.2% (et_ewt: 2417 to 1252 rules, 96.5% to 98.9%; `scripts/lemma_coverage.py`). Counting from the
start, or from whichever end is nearer, expresses fewer.

Added text escapes `\\` and `|` with a backslash. Casing changes one character at a time and only
where it round-trips (`İ`, `ß` and `ς` stay as they are), so it never changes a string's length.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

SEPARATORS = "+_"  # morpheme (ko_gsd) and compound (et_ewt) boundaries written into lemmas
IDENTITY = "K|-0+|-0+"  # the form itself: applies to every form
UNANNOTATED = "_"  # lemma `_` is "not annotated": CoNLL 2018 scores it right whatever is predicted


class _Rule(NamedTuple):
    casing: tuple[tuple[bool, int], ...] | None  # (upper, start) runs; None keeps the form's casing
    whole: str | None  # the lower-cased lemma, when it is written out whole
    strip_prefix: int = 0
    new_prefix: str = ""
    strip_suffix: int = 0
    new_suffix: str = ""
    inserts: tuple[tuple[str, int], ...] = ()  # (separator, characters after it), left to right
    min_length: int = 1  # shortest form the rule applies to


@lru_cache(maxsize=1 << 14)
def _lower(char: str) -> str:
    low = char.lower()
    return low if len(low) == 1 and low.upper() == char else char


@lru_cache(maxsize=1 << 14)
def _upper(char: str) -> str:
    up = char.upper()
    return up if len(up) == 1 and up.lower() == char else char


def _lower_all(text: str) -> str:
    return text.lower() if text.isascii() else "".join(map(_lower, text))


def _casing_runs(lemma: str) -> tuple[tuple[bool, int], ...]:
    """Runs of upper/lower case; caseless characters (digits, `+`, hangul) extend the run they are in."""
    cases = [True if _lower(c) != c else False if _upper(c) != c else None for c in lemma]
    current = next((case for case in cases if case is not None), False)
    runs: list[tuple[bool, int]] = []
    for i, case in enumerate(cases):
        current = current if case is None else case
        if not runs or runs[-1][0] != current:
            runs.append((current, i if i <= len(lemma) // 2 else i - len(lemma)))
    return tuple(runs)


def _apply_casing(text: str, runs: tuple[tuple[bool, int], ...]) -> str:
    """Each run from its start to the end of the word, later runs overriding; starts are clipped."""
    if not any(is_upper for is_upper, _ in runs):
        return text  # already lower case
    upper = [False] * len(text)
    for is_upper, start in runs:
        start = min(max(start if start >= 0 else len(text) + start, 0), len(text))
        upper[start:] = [is_upper] * (len(text) - start)
    return "".join(_upper(c) if u else c for c, u in zip(text, upper))


def _longest_common_substring(a: str, b: str) -> tuple[int, int, int]:
    """(start in a, start in b, length); ties go to the earliest in b, then in a."""
    for length in range(min(len(a), len(b)), 0, -1):
        for j in range(len(b) - length + 1):
            i = a.find(b[j:j + length])
            if i >= 0:
                return i, j, length
    return 0, 0, 0


def _split_separators(form: str, lemma: str, separators: str) -> tuple[str, tuple[tuple[str, int], ...]]:
    """The lemma without the separators the form lacks, and where they were (characters after each)."""
    absent = {s for s in separators if s in lemma and s not in form}
    bare = "".join(c for c in lemma if c not in absent)
    if not absent or not bare:
        return lemma, ()
    inserts, seen = [], 0
    for c in lemma:
        if c in absent:
            inserts.append((c, len(bare) - seen))
        else:
            seen += 1
    return bare, tuple(inserts)


def _with_min_length(rule: _Rule) -> _Rule:
    """At least one character is copied, and every separator position lies inside the edited word."""
    stripped = rule.strip_prefix + rule.strip_suffix
    added = len(rule.new_prefix) + len(rule.new_suffix)
    furthest = max((after for _, after in rule.inserts), default=0)
    return rule._replace(min_length=max(stripped + 1, stripped - added + furthest))


def _apply(rule: _Rule, form: str) -> str | None:
    if rule.whole is not None:
        body = rule.whole
    elif len(form) < rule.min_length:
        return None
    else:
        copied = form[rule.strip_prefix:len(form) - rule.strip_suffix]
        body = rule.new_prefix + (copied if rule.casing is None else _lower_all(copied)) + rule.new_suffix
        if rule.inserts:
            pieces, previous = [], 0
            for separator, after in rule.inserts:
                pieces += [body[previous:len(body) - after], separator]
                previous = len(body) - after
            body = "".join(pieces) + body[previous:]
    return body if rule.casing is None else _apply_casing(body, rule.casing)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _format(rule: _Rule) -> str:
    casing = "K" if rule.casing is None else ",".join(f"{'U' if up else 'L'}{start}" for up, start in rule.casing)
    if rule.whole is not None:
        return f"{casing}|={rule.whole}"
    text = f"{casing}|-{rule.strip_prefix}+{_escape(rule.new_prefix)}|-{rule.strip_suffix}+{_escape(rule.new_suffix)}"
    inserts = "".join(f"{separator}{after}" for separator, after in rule.inserts)
    return f"{text}|{inserts}" if inserts else text


def _split_fields(text: str) -> list[str]:
    fields, current, escaped = [], [], False
    for c in text:
        if escaped or c not in "\\|":
            current.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        else:
            fields.append("".join(current))
            current = []
    return [*fields, "".join(current)]


@lru_cache(maxsize=1 << 16)
def _parse(rule: str) -> _Rule:
    casing_text, bar, edit = rule.partition("|")
    casing = None if casing_text == "K" else tuple((run[0] == "U", int(run[1:])) for run in casing_text.split(","))
    if bar and edit.startswith("=") and len(edit) > 1:
        return _Rule(casing, edit[1:])
    fields = _split_fields(edit)
    if not bar or len(fields) not in (2, 3) or not all(f.startswith("-") and "+" in f for f in fields[:2]):
        raise ValueError(f"not a lemma rule: {rule!r}")
    (strip_prefix, new_prefix), (strip_suffix, new_suffix) = (f[1:].split("+", 1) for f in fields[:2])
    inserts_text = fields[2] if len(fields) == 3 else ""
    inserts, i = [], 0
    while i < len(inserts_text):
        j = i + 1
        while j < len(inserts_text) and inserts_text[j].isdigit():
            j += 1
        inserts.append((inserts_text[i], int(inserts_text[i + 1:j])))
        i = j
    return _with_min_length(
        _Rule(casing, None, int(strip_prefix), new_prefix, int(strip_suffix), new_suffix, tuple(inserts))
    )


@lru_cache(maxsize=1 << 16)
def derive_rule(form: str, lemma: str, separators: str = SEPARATORS) -> str:
    """The rule that turns `form` into `lemma`; `separators=""` turns off separator insertion."""
    if not form or not lemma:
        raise ValueError("form and lemma must be non-empty")
    low_form, low_lemma = _lower_all(form), _lower_all(lemma)
    bare, inserts = _split_separators(low_form, low_lemma, separators)
    at_form, at_lemma, length = _longest_common_substring(low_form, bare)
    if length == 0:
        return _format(_Rule(_casing_runs(lemma), low_lemma))
    edit = _with_min_length(_Rule(
        None, None, at_form, bare[:at_lemma], len(form) - at_form - length, bare[at_lemma + length:], inserts
    ))
    if low_lemma != lemma and _apply(edit, form) == lemma:
        return _format(edit)
    return _format(edit._replace(casing=_casing_runs(lemma)))


def apply_rule(rule: str, form: str) -> str | None:
    """The lemma `rule` makes of `form`, or None where the form is too short for what it strips."""
    return _apply(_parse(rule), form)


def lemmatise(rule: str, form: str) -> str:
    """The lemma, or the form itself where the rule cannot apply: never an empty or missing lemma."""
    return _apply(_parse(rule), form) or form


def min_length(rule: str) -> int:
    """The shortest form `rule` applies to: a lemma head masks the rules a word is too short for,
    so every lemma it gives is non-empty (a rule copies at least one character, or writes a whole lemma)."""
    return _parse(rule).min_length


def lemma_targets(forms: Sequence[str], lemmas: Sequence[str], unannotated: str) -> list[str]:
    """What a lemma head learns for each word: its rule, or `unannotated` (a class the loss ignores) for lemma `_`."""
    return [unannotated if lemma == UNANNOTATED else derive_rule(form, lemma) for form, lemma in zip(forms, lemmas)]
