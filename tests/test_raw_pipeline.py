"""Raw text end to end: one sentence a line, and `tagger eval --raw` scored the CoNLL 2018 way."""

from __future__ import annotations

import json

from tagger import Tagger
from tagger.cli import main

GOLD = """# newpar
# text = Dogs bark. Cats sleep.
1\tDogs\tdog\tNOUN\tNNS\tNumber=Plur\t2\tnsubj\t_\t_
2\tbark\tbark\tVERB\tVBP\t_\t0\troot\t_\tSpaceAfter=No
3\t.\t.\tPUNCT\t.\t_\t2\tpunct\t_\t_
4\tCats\tcat\tNOUN\tNNS\tNumber=Plur\t5\tnsubj\t_\t_
5\tsleep\tsleep\tVERB\tVBP\t_\t0\troot\t_\tSpaceAfter=No
6\t.\t.\tPUNCT\t.\t_\t5\tpunct\t_\t_

"""


def test_one_sentence_a_line_is_never_split_or_joined(tiny_model):
    document = Tagger.load(tiny_model).tag("Hello world. This stays one sentence!\n\nSecond line\n", input_format="lines")
    assert [sentence.text for sentence in document] == ["Hello world. This stays one sentence!", "Second line"]
    second = document[1].tokens
    assert (second[0].form, second[0].start, second[0].end) == ("Second", 39, 45)


def test_eval_raw_scores_tokens_sentences_words_and_tags(tiny_model, tmp_path, capsys):
    gold = tmp_path / "gold.conllu"
    gold.write_text(GOLD)  # one gold sentence holds two: the rule splitter finds both, so sentences are half right
    assert main(["eval", str(tiny_model), str(gold), "--raw", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert list(scores)[:3] == ["Tokens", "Sentences", "Words"]
    assert scores["Tokens"] == 100.0 and scores["Words"] == 100.0
    assert scores["Sentences"] == 0.0  # gold: one sentence; system: two
    assert {"UPOS", "XPOS", "UFeats", "AllTags", "Lemmas"} <= set(scores)


def test_eval_raw_needs_conllu(tiny_model, tmp_path, capsys):
    path = tmp_path / "gold.iob2"
    path.write_text("1\tDogs\tO\t_\t_\n\n")
    assert main(["eval", str(tiny_model), str(path), "--raw"]) == 2
    assert "--raw needs a CoNLL-U gold file" in capsys.readouterr().err


def test_words_of_a_contraction_carry_the_span_of_their_token():
    from tagger.inference.readers import from_tokenized
    from tagger.segmentation.tokens import Token, TokenizedSentence

    tokenized = TokenizedSentence([Token("Il", 0, 2, ("Il",)), Token("du", 3, 5, ("de", "le")), Token("pain", 6, 10, ("pain",))],
                                  "Il du pain")
    sentence = from_tokenized(tokenized)
    assert sentence.spans == [(0, 2), (3, 5), (3, 5), (6, 10)]
    assert from_tokenized(TokenizedSentence([Token("can't", 0, 5, ("ca", "n't"))], "can't")).spans == [(0, 2), (2, 5)]
