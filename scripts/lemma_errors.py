"""A model's lemma errors on a gold file, by kind: forms seen in training or not, and whether any kept
script could have produced the gold lemma at all. JSON to stdout.

Gold tokens (as `tagger eval`); a gold lemma `_` counts as right (CoNLL 2018). Reported: the
error rate on seen and on unseen forms (an unseen form: one that does not occur, case-sensitive,
in train), the share of errors no kept script could have given, and the most frequent errors of
each kind with their counts.

    python scripts/lemma_errors.py MODEL ../shared/data/ud/en_ewt [--split test] [--examples 15]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from tagger.data.conllu_io import read_conllu
from tagger.data.lemma_rules import UNANNOTATED, apply_rule
from tagger.evaluation.evaluate import evaluate_file
from tagger.inference.tagger import Tagger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("treebank", type=Path, help="folder with train.conllu and the gold split")
    parser.add_argument("--split", default="test")
    parser.add_argument("--examples", type=int, default=15)
    args = parser.parse_args()

    tagger = Tagger.load(args.model, precision="float32")
    scripts = tagger.vocabs.tags["lemma"].itos[2:]
    train_forms = {form for sentence in read_conllu(args.treebank / "train.conllu") for form in sentence.forms}
    evaluation = evaluate_file(tagger.predictor, args.treebank / f"{args.split}.conllu")
    words: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    examples: dict[str, Counter[tuple[str, str, str]]] = {}
    for gold, predicted in zip(evaluation.gold, evaluation.predicted):
        for form, gold_lemma, lemma in zip(gold.forms, gold.column("lemma"), predicted.column("lemma")):
            kind = "seen form" if form in train_forms else "unseen form"
            words[kind] += 1
            if gold_lemma == UNANNOTATED or lemma == gold_lemma:
                continue
            expressible = any(apply_rule(script, form) == gold_lemma for script in scripts)
            kind += "" if expressible else ", no script gives the gold lemma"
            errors[kind] += 1
            examples.setdefault(kind, Counter())[(form, gold_lemma, lemma)] += 1
    total = sum(words.values())
    by_form = {kind: sum(n for k, n in errors.items() if k.startswith(kind)) for kind in words}
    inexpressible = sum(n for kind, n in errors.items() if "no script" in kind)
    print(json.dumps({
        "model": args.model, "file": str(args.treebank / f"{args.split}.conllu"), "words": total,
        "lemmas": round(100 * (1 - sum(errors.values()) / total), 2),
        "words_by_kind": dict(words),
        "error_rate": {kind: round(100 * by_form[kind] / n, 2) for kind, n in words.items()},
        "inexpressible_share_of_errors": round(100 * inexpressible / max(1, sum(errors.values())), 2),
        "errors_by_kind": dict(errors.most_common()),
        "error_share_of_words": {kind: round(100 * n / total, 2) for kind, n in errors.most_common()},
        "examples": {kind: [f"{form} -> {lemma} (gold {gold}) x{n}" for (form, gold, lemma), n in found.most_common(args.examples)]
                     for kind, found in examples.items()},
    }, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
