"""Entity tag schemes: read IOB1, IOB2 and BIOES tags, keep IOB2 inside, find entity spans.

IOB2 is the one internal scheme: `B-X` starts an entity, `I-X` continues it, `O` is outside.
Sequences that are invalid in IOB2 (an `I-X` after `O`, at the start, or after a tag of
another type) are read the way seqeval's default mode reads them: as the start of a new
entity. That same rule is what turns IOB1 into IOB2, so one function serves both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

SCHEMES = ("auto", "iob1", "iob2", "bioes")
OUTSIDE = "O"
_TAG = re.compile(r"^([BIES])-(.+)$")


class Span(NamedTuple):
    """An entity: its type and token range [start, end)."""

    type: str
    start: int
    end: int


def split_tag(tag: str) -> tuple[str, str]:
    """('B', 'PER') for 'B-PER', ('O', '') for 'O'; ValueError for anything else."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    match = _TAG.match(tag)
    if match is None:
        raise ValueError(f"bad entity tag {tag!r}: expected O or B-, I-, E-, S- followed by a type")
    return match.group(1), match.group(2)


def looks_like_entity_tags(tags: Iterable[str]) -> bool:
    """True when every tag is O or PREFIX-TYPE and at least one is not O (so UPOS 'X' or 'O' alone do not count)."""
    seen_entity = False
    for tag in tags:
        if tag == OUTSIDE:
            continue
        if _TAG.match(tag) is None:
            return False
        seen_entity = True
    return seen_entity


def detect_scheme(sequences: Iterable[Sequence[str]]) -> str:
    """'bioes' if E-/S- occur; 'iob1' if most entities start with I-; else 'iob2'."""
    begins = inside_starts = 0
    for tags in sequences:
        previous = OUTSIDE
        for tag in tags:
            prefix, kind = split_tag(tag)
            if prefix in ("E", "S"):
                return "bioes"
            if prefix == "B":
                begins += 1
            elif prefix == "I" and split_tag(previous)[1] != kind:
                inside_starts += 1
            previous = tag
    return "iob1" if inside_starts > begins else "iob2"


def to_iob2(tags: Sequence[str], scheme: str = "iob2") -> tuple[list[str], int]:
    """Tags in IOB2 and how many were repaired (an `I-X` that had to become `B-X`).

    `scheme` is what the input claims to be: in IOB1 an entity starting with `I-` is normal,
    so it is converted without counting as a repair. BIOES maps S- to B- and E- to I-.
    """
    result: list[str] = []
    repairs = 0
    previous_type = ""
    for tag in tags:
        prefix, kind = split_tag(tag)
        if scheme == "bioes" and prefix in ("E", "S"):
            prefix = "B" if prefix == "S" else "I"
        elif prefix in ("E", "S"):
            raise ValueError(f"tag {tag!r} belongs to BIOES, but the data is read as {scheme.upper()}")
        if prefix == "I" and kind != previous_type:
            prefix = "B"
            repairs += scheme != "iob1"
        result.append(OUTSIDE if prefix == OUTSIDE else f"{prefix}-{kind}")
        previous_type = kind
    return result, repairs


def entity_spans(tags: Sequence[str]) -> list[Span]:
    """Entities of an IOB2 sequence; an `I-X` that continues no X entity starts one, as in seqeval."""
    spans: list[Span] = []
    start, kind = -1, ""
    for i, tag in enumerate(tags):
        prefix, tag_type = split_tag(tag)
        if prefix == "I" and tag_type == kind:
            continue
        if start >= 0:
            spans.append(Span(kind, start, i))
        start, kind = (i, tag_type) if prefix != OUTSIDE else (-1, "")
    if start >= 0:
        spans.append(Span(kind, start, len(tags)))
    return spans
