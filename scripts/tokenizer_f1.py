"""Tokenizer accuracy against a UD treebank: token-level F1 over character spans, as JSON.

Each `# text` line is tokenised on its own and its tokens compared with the gold surface
tokens (a multiword token counts once, as its range line's FORM), by character span. A second
figure tokenises all `# text` lines joined by spaces, as one raw text, and scores the sentence
splitter too (sentence spans, CoNLL 2018 style).

    python scripts/tokenizer_f1.py [FILE] [--language en] [--errors 20]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from tagger.data.conllu_io import Sentence, read_conllu
from tagger.segmentation.rules import Tokenizer

DEFAULT_FILE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ud" / "en_ewt" / "test.conllu"


def sentence_text(sentence: Sentence) -> str:
    for comment in sentence.comments:
        if comment.startswith("# text = "):
            return comment[len("# text = "):]
    raise ValueError(f"sentence at line {sentence.line} has no '# text' comment")


def gold_token_forms(sentence: Sentence) -> list[str]:
    """Surface tokens: a multiword range line stands for the words it covers; empty nodes are skipped."""
    forms, covered_until = [], 0
    for row in sentence.rows:
        first, dash, last = row[0].partition("-")
        if dash:
            forms.append(row[1])
            covered_until = int(last)
        elif "." not in row[0] and int(row[0]) > covered_until:
            forms.append(row[1])
    return forms


def spans_of(forms: list[str], text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Character spans of `forms` found in order in `text`; forms must be exact substrings."""
    spans, position = [], 0
    for form in forms:
        start = text.index(form, position)
        spans.append((offset + start, offset + start + len(form)))
        position = start + len(form)
    return spans


def f1(gold: set, predicted: set) -> dict[str, float]:
    correct = len(gold & predicted)
    precision = correct / len(predicted) if predicted else 0.0
    recall = correct / len(gold) if gold else 0.0
    score = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": 100 * precision, "recall": 100 * recall, "f1": 100 * score}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(DEFAULT_FILE), help="gold CoNLL-U file with '# text' comments")
    parser.add_argument("--language", default="en", help="tokenizer rules: en, or anything else for the generic ones")
    parser.add_argument("--errors", type=int, default=0, help="print this many of the most common errors to stderr")
    args = parser.parse_args()

    tokenizer = Tokenizer(args.language)
    sentences = read_conllu(args.file)
    texts = [sentence_text(s) for s in sentences]

    gold_tokens, predicted_tokens = set(), set()
    errors: Counter[tuple[str, str]] = Counter()
    gold_sentences, offset = set(), 0
    for index, (sentence, text) in enumerate(zip(sentences, texts)):
        gold = spans_of(gold_token_forms(sentence), text)
        predicted = [(t.start, t.end) for s in tokenizer.tokenize(text) for t in s.tokens]
        gold_tokens.update((index, *span) for span in gold)
        predicted_tokens.update((index, *span) for span in predicted)
        if set(gold) != set(predicted):
            missed = " ".join(text[a:b] for a, b in gold if (a, b) not in set(predicted))
            wrong = " ".join(text[a:b] for a, b in predicted if (a, b) not in set(gold))
            errors[(missed, wrong)] += 1
        gold_sentences.add((offset, offset + len(text)))
        offset += len(text) + 1

    joined = " ".join(texts)
    raw = tokenizer.tokenize(joined)
    gold_joined = set()
    offset = 0
    for sentence, text in zip(sentences, texts):
        gold_joined.update(spans_of(gold_token_forms(sentence), text, offset))
        offset += len(text) + 1
    predicted_joined = {(t.start, t.end) for s in raw for t in s.tokens}

    result = {
        "file": args.file,
        "language": args.language,
        "sentences": len(sentences),
        "gold_tokens": len(gold_tokens),
        "tokens": f1(gold_tokens, predicted_tokens),
        "raw_text": {
            "tokens": f1(gold_joined, predicted_joined),
            "sentences": f1(gold_sentences, {(s.start, s.end) for s in raw}),
        },
    }
    print(json.dumps(result, indent=2))
    for (missed, wrong), count in errors.most_common(args.errors):
        print(f"{count:4d}  gold: {missed!r:40s} predicted: {wrong!r}", file=sys.stderr)


if __name__ == "__main__":
    main()
