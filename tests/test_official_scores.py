"""Gold-token scores follow CoNLL 2018: UFeats and AllTags compare universal features only, as
`conll18_ud_eval.py` does; `Feats` is the whole FEATS string. Expected figures are counted by hand on
five words, and checked against the official script itself where ../shared/tools has it (CI does)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tagger.data.conllu_io import parse_conllu_text
from tagger.evaluation.metrics import tagging_accuracies

OFFICIAL = Path(__file__).resolve().parents[2] / "shared" / "tools" / "conll18_ud_eval.py"
WORDS = [("Le", "le"), ("chat", "chat"), ("dort", "dormir"), ("vite", "vite"), (".", ".")]
GOLD = [("DET", "Definite=Def|Gender=Masc|Number=Sing|PronType=Art"), ("NOUN", "Gender=Masc|Number=Sing"),
        ("VERB", "Mood=Ind|Number=Sing|Person=3|Tense=Pres|VerbForm=Fin"), ("ADV", "_"), ("PUNCT", "_")]
PREDICTED = [
    ("DET", "Definite=Def|Gender=Masc|Number=Sing|PronType=Art|Style=Coll"),  # Style is not universal: UFeats right
    ("NOUN", "Gender=Fem|Number=Sing"),  # a universal feature wrong: both wrong
    ("VERB", "Number[psor]=Sing|VerbForm=Fin|Tense=Pres|Person=3|Number=Sing|Mood=Ind"),  # layered extra, any order
    ("ADV", "_"),
    ("SYM", "_"),  # UPOS wrong
]
# by hand: UPOS 4/5; UFeats words 1, 3, 4, 5 = 4/5; whole Feats words 4, 5 = 2/5; AllTags words 1, 3, 4 = 3/5
EXPECTED = {"UPOS": 80.0, "UFeats": 80.0, "Feats": 40.0, "AllTags": 60.0, "Lemmas": 100.0}


def conllu(tags: list[tuple[str, str]]) -> str:
    rows = [f"{i}\t{form}\t{lemma}\t{upos}\t_\t{feats}\t{0 if i == 1 else 1}\t{'root' if i == 1 else 'dep'}\t_\t_"
            for i, ((form, lemma), (upos, feats)) in enumerate(zip(WORDS, tags), start=1)]
    return "# text = Le chat dort vite .\n" + "\n".join(rows) + "\n\n"


def test_gold_token_scores_count_universal_features_as_the_shared_task():
    scores = tagging_accuracies(parse_conllu_text(conllu(GOLD)), parse_conllu_text(conllu(PREDICTED)),
                                ["upos", "feats", "lemma"])
    assert scores == pytest.approx(EXPECTED)


@pytest.mark.skipif(not OFFICIAL.is_file(), reason="the official scorer lives in ../shared/tools")
def test_the_official_script_gives_the_same_figures(tmp_path):
    (tmp_path / "gold.conllu").write_text(conllu(GOLD))
    (tmp_path / "system.conllu").write_text(conllu(PREDICTED))
    result = subprocess.run([sys.executable, str(OFFICIAL), "-v", str(tmp_path / "gold.conllu"),
                             str(tmp_path / "system.conllu")], capture_output=True, text=True, check=True)
    official = {line.split("|")[0].strip(): float(line.split("|")[3]) for line in result.stdout.splitlines()[2:]}
    assert {name: official[name] for name in ("UPOS", "UFeats", "AllTags", "Lemmas")} == \
        {name: EXPECTED[name] for name in ("UPOS", "UFeats", "AllTags", "Lemmas")}
