"""Multiword tokens: which surface tokens stand for several syntactic words, and which words.

A token is expanded by one of a small set of *rules* learned from the training treebank; which
rule a token takes (or none) is predicted per token by the segmenter from the token's characters
and their context (French *des* is *de les* or an article depending on the sentence).

- A *split* rule cuts the token's last characters off as words, by length: English *don't* =
  *do* + *n't* and Turkish *vardır* = *var* + *dır* are both "+3". Lengths, not suffix strings,
  so that one rule covers every vowel-harmony variant (*-dır -dir -dur -tır*): with suffix strings
  12% of the Turkish-IMST dev multiword tokens needed a rule seen less than twice in train. The
  words are slices of the token, so casing and offsets come for free, and the rule applies to
  tokens never seen in training (most Turkish multiword tokens of a test set are).
- The *lexicon* rule looks the lower-cased token up among the training multiword tokens whose
  words are not slices of it (French *du* = *de le*, *auxquels* = *à lesquels*), restoring the
  token's casing on the first word: *Du* -> *De le*, *DU* -> *DE le* (UD French-Sequoia's usage).

Rule 0 is "one word". A rule can only be chosen where it applies (`applicable`), so every
expansion is well formed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

NOT_MULTIWORD = 0
LEXICON = 1  # rule id of the lexicon lookup; split rules follow
_SPLIT = "+"  # split rules are written "+3", "+3+2": the lengths of the words after the first


def split_rule(form: str, words: Sequence[str]) -> str | None:
    """The split rule that turns `form` into `words`, or None where the words are not slices of it."""
    if len(words) < 2 or "".join(words) != form or not all(words):
        return None
    return "".join(f"{_SPLIT}{len(word)}" for word in words[1:])


def restore_case(form: str, words: Sequence[str]) -> tuple[str, ...]:
    """Lower-case lexicon words cased like `form`: the first word takes its capitals, the others stay lower."""
    first = words[0]
    if len(form) > 1 and form.isupper():
        first = first.upper()
    elif form[:1].isupper():
        first = first[:1].upper() + first[1:]
    return (first, *words[1:])


class MultiwordExpander:
    """The rules of one treebank: the split rules seen often enough, and the lexicon of non-slice tokens."""

    def __init__(self, split_rules: Sequence[str], lexicon: dict[str, Sequence[str]]) -> None:
        self.split_rules = list(split_rules)
        self.lexicon = {form: tuple(words) for form, words in lexicon.items()}
        self.rule_ids = {rule: LEXICON + 1 + i for i, rule in enumerate(self.split_rules)}
        self._lengths = [tuple(int(length) for length in rule.split(_SPLIT)[1:]) for rule in self.split_rules]

    @classmethod
    def learn(cls, tokens: Iterable[tuple[str, Sequence[str]]], min_rule_count: int = 2) -> MultiwordExpander:
        """Rules from (form, words) of training tokens: split rules seen `min_rule_count` times, and the lexicon.

        The lexicon keeps each lower-cased form's most frequent words; a rarer split rule is left
        out (its tokens teach nothing that generalises) and `target` ignores its tokens.
        """
        rule_counts: Counter[str] = Counter()
        lexicon_counts: dict[str, Counter[tuple[str, ...]]] = defaultdict(Counter)
        for form, words in tokens:
            if len(words) < 2:
                continue
            rule = split_rule(form, words)
            if rule is not None:
                rule_counts[rule] += 1
            else:
                lexicon_counts[form.lower()][tuple(word.lower() for word in words)] += 1
        split_rules = [rule for rule, count in rule_counts.most_common() if count >= min_rule_count]
        lexicon = {form: counts.most_common(1)[0][0] for form, counts in lexicon_counts.items()}
        return cls(split_rules, lexicon)

    @property
    def n_rules(self) -> int:
        return LEXICON + 1 + len(self.split_rules)

    def target(self, form: str, words: Sequence[str]) -> int | None:
        """The rule id a training token should get; None for a multiword token no rule covers (not learned from)."""
        if len(words) < 2:
            return NOT_MULTIWORD
        rule = split_rule(form, words)
        if rule is not None:
            return self.rule_ids.get(rule)
        return LEXICON if form.lower() in self.lexicon else None

    def applicable(self, form: str) -> list[int]:
        """Ids of the rules that can expand `form` (always including NOT_MULTIWORD)."""
        rules = [NOT_MULTIWORD]
        if form.lower() in self.lexicon:
            rules.append(LEXICON)
        rules += [rule_id for rule_id, cut in enumerate(self._lengths, start=LEXICON + 1) if sum(cut) < len(form)]
        return rules

    def expand(self, form: str, rule_id: int) -> tuple[str, ...]:
        """The words of `form` under an applicable rule."""
        if rule_id == NOT_MULTIWORD:
            return (form,)
        if rule_id == LEXICON:
            return restore_case(form, self.lexicon[form.lower()])
        words: list[str] = []
        end = len(form)
        for length in reversed(self._lengths[rule_id - LEXICON - 1]):
            words.append(form[end - length : end])  # the token's own characters: its casing kept
            end -= length
        return (form[:end], *reversed(words))

    def to_dict(self) -> dict:
        return {"split_rules": self.split_rules, "lexicon": {form: list(words) for form, words in self.lexicon.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> MultiwordExpander:
        return cls(data["split_rules"], data["lexicon"])
