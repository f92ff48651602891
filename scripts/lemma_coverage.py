"""Lemma rules of each treebank's training words, and the share of test lemmas they can express: a JSON line each.

A test word is expressible when some rule kept from training (seen at least min_count times)
turns its form into its gold lemma: the upper bound of a lemma classifier over those rules. Shares
are split by whether the form occurs in training, and given with and without separator insertion
(ko_gsd `+`, et_ewt `_`). Gold lemma `_` counts as expressible, as CoNLL 2018 scores it right
whatever is predicted. Only syntactic words count (no multiword ranges, no empty nodes).

    python scripts/lemma_coverage.py [TREEBANK_DIR ...] [--min-counts 1 2 3]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from tagger.data.conllu_io import read_conllu
from tagger.data.lemma_rules import IDENTITY, SEPARATORS, UNANNOTATED, apply_rule, derive_rule

UD_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ud"
TREEBANKS = ("en_ewt", "et_ewt", "tr_atis", "ko_gsd", "tr_imst", "fr_sequoia")


def word_pairs(path: Path) -> Counter[tuple[str, str]]:
    """(form, lemma) counts; read_conllu's words are the syntactic words already."""
    pairs: Counter[tuple[str, str]] = Counter()
    for sentence in read_conllu(path):
        pairs.update(zip(sentence.forms, sentence.column("lemma")))
    return pairs


def support(rule_counts: dict[str, int], form: str, lemma: str, separators: str, enough: int) -> int:
    """Training count of the most frequent rule making `lemma` of `form` (0: none); any count >= `enough` will do."""
    best = rule_counts.get(derive_rule(form, lemma, separators), 0)
    if best >= enough:
        return best
    for rule, count in rule_counts.items():  # most frequent first: another rule than the pair's own may make it
        if count <= best:
            break
        if apply_rule(rule, form) == lemma:
            return count
    return best


def expressible_shares(supports: dict[tuple[str, str], int], test: Counter[tuple[str, str]],
                       train_forms: set[str], min_count: int) -> dict[str, float]:
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for (form, lemma), n in test.items():
        split = "seen_form" if form in train_forms else "unseen_form"
        totals[split] += n
        hits[split] += n * (lemma == UNANNOTATED or supports[form, lemma] >= min_count)
    shares = {"all": 100 * sum(hits.values()) / sum(totals.values())}
    shares.update({split: 100 * hits[split] / totals[split] for split in ("seen_form", "unseen_form") if totals[split]})
    return {name: round(share, 2) for name, share in shares.items()}


def treebank_report(directory: Path, min_counts: list[int]) -> dict:
    train, test = word_pairs(directory / "train.conllu"), word_pairs(directory / "test.conllu")
    train_forms = {form for form, _ in train}
    report: dict = {
        "treebank": directory.name,
        "train_words": sum(train.values()),
        "test_words": sum(test.values()),
        "test_unseen_forms": sum(n for (form, _), n in test.items() if form not in train_forms),
        "test_lemma_unannotated": sum(n for (_, lemma), n in test.items() if lemma == UNANNOTATED),
    }
    for name, separators in (("with_separators", SEPARATORS), ("without_separators", "")):
        counts: Counter[str] = Counter()
        for (form, lemma), n in train.items():
            if lemma != UNANNOTATED:
                counts[derive_rule(form, lemma, separators)] += n
        rule_counts = dict(counts.most_common())
        supports = {
            (form, lemma): support(rule_counts, form, lemma, separators, max(min_counts))
            for form, lemma in test if lemma != UNANNOTATED
        }
        # Classes a head would have if rules seen fewer than m times were dropped: those kept, and IDENTITY.
        classes = {str(m): len({r for r, n in rule_counts.items() if n >= m} | {IDENTITY}) for m in min_counts}
        report[name] = {
            "train_rules": len(rule_counts),
            "classes": classes,
            "test_expressible": {str(m): expressible_shares(supports, test, train_forms, m) for m in min_counts},
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("treebanks", nargs="*", type=Path, default=[UD_DIR / name for name in TREEBANKS],
                        help="folders with train.conllu and test.conllu (default: the six under ../shared/data/ud)")
    parser.add_argument("--min-counts", nargs="+", type=int, default=[1, 2, 3])
    args = parser.parse_args()
    for directory in args.treebanks:
        print(json.dumps(treebank_report(directory, args.min_counts), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
