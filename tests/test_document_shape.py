"""One document shape everywhere (issue 30, item 10): the CLI's JSON lines, `Tagger.tag(...).to_dict()`, and
what the server and the Ray engine give are the same objects; each sub-item checked against values worked out
by hand or read from another output of the same text."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tagger import Tagger
from tagger.inference.documents import TaggedDocument, TaggedSentence, TaggedToken
from tagger.data.conllu_io import parse_conllu_text

TEXT = "I don't like Mondays. Mail me at ann@example.com!"


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.load("en_ewt", precision="float32")


def run_tag(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tagger.cli", "tag", *args], capture_output=True, text=True, cwd=cwd)


def test_output_file_extension_chooses_the_format(tmp_path):
    for name, check in (("out.json", lambda text: json.loads(text.splitlines()[0])["tokens"][0]["form"] == "I"),
                        ("out.jsonl", lambda text: json.loads(text.splitlines()[0])["tokens"][0]["form"] == "I"),
                        ("out.tsv", lambda text: text.startswith("# id\tform\tupos")),
                        ("out.conllu", lambda text: "\n1\tI\tI\tPRON\t" in text)):
        result = run_tag(TEXT, "-o", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
        assert check((tmp_path / name).read_text()), name


def test_an_explicit_format_wins_over_the_extension(tmp_path):
    assert run_tag(TEXT, "-f", "conllu", "-o", str(tmp_path / "out.json")).returncode == 0
    assert "\n1\tI\tI\tPRON\t" in (tmp_path / "out.json").read_text()


def test_probabilities_without_a_format_give_json():
    result = run_tag(TEXT, "--probabilities")
    assert result.returncode == 0, result.stderr
    first = json.loads(result.stdout.splitlines()[0])["tokens"][0]
    assert 0 < first["probabilities"]["upos"] <= 1
    top = json.loads(run_tag(TEXT, "--top-k", "2").stdout.splitlines()[0])["tokens"][0]["top_k"]["upos"]
    assert len(top) == 2 and top[0][0] == "PRON"


def test_a_lemmas_probability_is_the_same_in_probabilities_and_top_k(tagger):
    (sentence, _) = tagger.tag(TEXT, probabilities=True, top_k=3)
    for token in sentence:
        ranked = dict(token.top_k["lemma"])
        assert token.lemma in ranked
        assert token.probabilities["lemma"] == pytest.approx(ranked[token.lemma], abs=1e-9), token.form


def test_json_feats_are_a_dict_as_in_python():
    token = TaggedToken(1, "cats", {"upos": "NOUN", "feats": "Number=Plur|Case=Nom"})
    assert token.to_dict()["feats"] == {"Number": "Plur", "Case": "Nom"} == token.features
    assert TaggedToken(2, ".", {"upos": "PUNCT", "feats": "_"}).to_dict()["feats"] == {}


def test_entity_positions_are_the_ids_of_its_first_and_last_token():
    conllu = "".join(f"{i}\t{form}\t_\t_\t_\t_\t_\t_\t_\tNER={tag}\n" for i, (form, tag) in
                     enumerate([("Ann", "B-PER"), ("Lee", "I-PER"), ("met", "O"), ("Bo", "B-PER")], start=1)) + "\n"
    sentence = TaggedSentence(parse_conllu_text(conllu)[0], columns=["misc:NER"])
    first, second = sentence.entities
    assert (first["token_start"], first["token_end"], second["token_start"], second["token_end"]) == (1, 2, 4, 4)
    by_id = {token.id: token.form for token in sentence.tokens}
    assert (by_id[first["token_start"]], by_id[first["token_end"]]) == ("Ann", "Lee")
    document = TaggedDocument([sentence, sentence])
    assert [(e["sentence"], e["text"]) for e in document.entities] == [(1, "Ann Lee"), (1, "Bo"), (2, "Ann Lee"), (2, "Bo")]
    assert document.ents == document.entities


def test_a_cli_json_line_is_the_sentence_of_the_python_document(tagger):
    result = run_tag(TEXT, "-f", "json", "--precision", "float32")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {"sentences": lines} == tagger.tag(TEXT).to_dict()
    assert [line["id"] for line in lines] == [1, 2] and lines[1]["text"] == "Mail me at ann@example.com!"


def test_a_document_knows_its_text(tagger):
    assert tagger.tag(TEXT).text == TEXT
    assert [document.text for document in tagger.pipe(["One.", "Two here."])] == ["One.", "Two here."]
    assert tagger.tag([["Hi", "there"], ["Bye", "."]]).text == "Hi there Bye ."
