"""The rule tokenizer on raw treebank text, scored the CoNLL 2018 way: Tokens, Sentences, Words F1 as JSON.

Each test file's raw text (rebuilt from `# text`, `SpaceAfter=No` and `# newpar`/`# newdoc`) goes
through `Tokenizer(language)` the way `tagger tag` reads raw text (line by line, paragraphs at
blank lines) and the result is aligned to the gold file by characters. This is the baseline a
learned segmenter has to beat, treebank by treebank.

    python scripts/rule_tokenizer_e2e.py [--data ../shared/data/ud] [--split test]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tagger.data.conllu_io import Sentence, read_conllu
from tagger.data.raw_text import raw_text
from tagger.evaluation.conll18 import evaluate_conll18
from tagger.inference.readers import read_raw
from tagger.segmentation.rules import Tokenizer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ud"  # ../shared/data/ud from the repo root
TREEBANK_LANGUAGES = {
    "en_ewt": "en", "et_ewt": "et", "tr_atis": "tr", "ko_gsd": "ko", "tr_imst": "tr", "fr_sequoia": "fr",
}
REPORTED = ("Tokens", "Sentences", "Words")


def tokenized_sentences(text: str, language: str) -> list[Sentence]:
    return [tagged.sentence for tagged in read_raw(text.splitlines(keepends=True), Tokenizer(language))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding <treebank>/<split>.conllu")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()

    results = {}
    for treebank, language in TREEBANK_LANGUAGES.items():
        path = args.data / treebank / f"{args.split}.conllu"
        gold = read_conllu(path)
        scores = evaluate_conll18(gold, tokenized_sentences(raw_text(gold, str(path)), language))
        results[treebank] = {name: round(scores[name].f1, 2) for name in REPORTED}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
