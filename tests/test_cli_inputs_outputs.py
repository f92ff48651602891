"""`tagger tag`'s arguments and outputs, as a user meets them: files or text by one rule, outputs
checked before any work, one document per file with ids unique in its output, TSV with a header
and CoNLL-U IDs. Errors come before the model is loaded, so those cases cost only a process start;
the others tag with the shipped English model."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tagger import Tagger
from tagger.errors import TaggerError

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
CONLLU = ("# newdoc id = mine\n# sent_id = x-7\n# text = Dogs bark.\n"
          "1\tDogs\t_\t_\t_\t_\t_\t_\t_\t_\n2\tbark\t_\t_\t_\t_\t_\t_\t_\tSpaceAfter=No\n3\t.\t_\t_\t_\t_\t_\t_\t_\t_\n\n")


def tagger_cli(*args: str, cwd: Path = REPO, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tagger.cli", *args], cwd=cwd, env=ENV, input=stdin,
                          capture_output=True, text=True, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, expected_start: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(expected_start) and len(result.stderr.splitlines()) == 1, result.stderr


def comments(conllu: str) -> list[str]:
    return [line for line in conllu.splitlines() if line.startswith("#")]


# -- 1. what an argument is ------------------------------------------------------------------------


def forms(tsv: str) -> list[str]:
    return [line.split("\t")[1] for line in tsv.splitlines() if line and not line.startswith("#")]


def tag_words(*words: str, cwd: Path) -> subprocess.CompletedProcess:
    return tagger_cli("tag", "--precision", "float32", "-f", "tsv", "--no-header", *words, cwd=cwd)


def test_ordinary_words_are_text_even_where_one_of_them_names_a_directory(tmp_path):
    result = tag_words("Hello", "world", ".", cwd=tmp_path)  # "." is the working directory
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert forms(result.stdout) == ["Hello", "world", "."]


def test_a_sentence_that_names_an_existing_file_is_text(tmp_path):
    (tmp_path / "notes.txt").write_text("Not this.\n")
    result = tag_words("What", "is", "in", "notes.txt", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert forms(result.stdout) == ["What", "is", "in", "notes.txt"]


@pytest.mark.parametrize("word", ["example.com", "node.js", "and/or"])
def test_one_word_that_looks_like_a_file_name_but_names_none_is_text_with_a_note(tmp_path, word):
    result = tag_words(word, cwd=tmp_path)
    assert result.returncode == 0
    assert "".join(forms(result.stdout)) == word  # tagged as text (how it is split is the segmenter's: EWT splits and / or)
    assert result.stderr == f"tagger tag: no file named {word}, so it is tagged as text (--text {word} says so without this note)\n"


def test_several_missing_file_names_are_text_with_a_note(tmp_path):
    result = tagger_cli("tag", "-m", "no_such_model", "a1.txt", "b1.txt", cwd=tmp_path)  # the note comes before the model
    assert result.stderr.splitlines()[0] == ("tagger tag: no file named a1.txt, so the arguments are tagged as text "
                                             "(--text 'a1.txt b1.txt' says so without this note)")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["some_dir"], "tagger tag: error: some_dir: a directory, not a file"),
        (["."], "tagger tag: error: .: a directory, not a file"),
        (["a.txt", "some_dir"], "tagger tag: error: some_dir: a directory, not a file"),
        (["a.txt", "b1.txt"], "tagger tag: error: b1.txt: no such file (the other arguments are files"),
        (["a.txt", "data/b.txt"], "tagger tag: error: data/b.txt: no such file (the other arguments are files"),
    ],
    ids=["directory", "working-directory", "directory-among-files", "typo-among-files", "missing-path-among-files"],
)
def test_paths_one_of_which_exists_are_files_and_a_directory_or_a_missing_one_is_an_error(tmp_path, arguments, expected):
    (tmp_path / "some_dir").mkdir()
    (tmp_path / "a.txt").write_text("Hi.\n")
    assert_one_line_error(tagger_cli("tag", *arguments, cwd=tmp_path), expected)


def test_text_with_spaces_stays_text_and_text_that_looks_like_a_path_goes_by_text(tmp_path):
    sentence = tagger_cli("tag", "-f", "tsv", "--no-header", "I love e.g. cats", "and/or dogs", cwd=tmp_path)
    assert sentence.returncode == 0, sentence.stderr
    assert forms(sentence.stdout) == ["I", "love", "e.g.", "cats", "and", "/", "or", "dogs"]
    word = tagger_cli("tag", "-f", "tsv", "--no-header", "--text", "README.md", cwd=tmp_path)
    assert word.returncode == 0 and word.stderr == "" and forms(word.stdout) == ["README.md"]


def test_the_rule_is_in_the_help():
    help_text = " ".join(tagger_cli("tag", "--help").stdout.split())
    assert "a directory or a missing file among them is an error" in help_text and "look like paths" in help_text
    assert "--text or stdin take any text" in help_text


# -- 6. the output path is checked before any work ---------------------------------------------------


def test_an_output_that_is_a_directory_is_refused_before_the_model_is_even_loaded(tmp_path):
    (tmp_path / "in.txt").write_text("Hi.\n")
    (tmp_path / "out").mkdir()
    # the model does not exist: the output's error coming first shows nothing was loaded or tagged
    tag = tagger_cli("tag", "-m", "no_such_model", "in.txt", "-o", "out", "--force", cwd=tmp_path)
    assert_one_line_error(tag, "tagger tag: error: --output out is a directory; give a file name in it")
    evaluate = tagger_cli("eval", "no_such_model", "in.txt", "-o", "out", "--force", cwd=tmp_path)
    assert_one_line_error(evaluate, "tagger eval: error: --output out is a directory; give a file name in it")


def test_output_dir_refuses_text_input_and_existing_outputs(tmp_path):
    (tmp_path / "a.txt").write_text("Hi.\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.conllu").write_text("precious")
    assert_one_line_error(tagger_cli("tag", "-m", "no_such_model", "a.txt", "--output-dir", "out", cwd=tmp_path),
                          "tagger tag: error: --output out/a.conllu exists; pass --force to overwrite it")
    assert_one_line_error(tagger_cli("tag", "-m", "no_such_model", "Some text", "--output-dir", "out", cwd=tmp_path),
                          "tagger tag: error: --output-dir writes one output per input file")
    assert (tmp_path / "out" / "a.conllu").read_text() == "precious"


# -- 5. top-k -------------------------------------------------------------------------------------


def test_a_negative_top_k_is_a_one_line_error():
    assert_one_line_error(tagger_cli("tag", "-m", "no_such_model", "-f", "json", "--top-k", "-1", "Hi there"),
                          "tagger tag: error: --top-k -1: give 0 (none) or more tags")


@pytest.fixture(scope="module")
def english() -> Tagger:
    return Tagger.load("en_ewt", threads=1, precision="float32")


def test_top_k_in_python_refuses_a_negative_k_and_gives_all_tags_past_the_tag_set(english):
    with pytest.raises(TaggerError, match=r"top_k=-1: give 0 \(none\) or more tags"):
        english.tag("Hi.", top_k=-1)
    (sentence,) = english.tag("Hi.", top_k=50)
    assert all(len(token.top_k["upos"]) == 17 for token in sentence)  # UD has 17 UPOS tags


# -- 4. top-k lemmas -------------------------------------------------------------------------------


def test_top_k_lemmas_are_distinct_and_sum_the_scripts_that_give_them(english):
    (sentence,) = english.tag("I saw it.", top_k=3, probabilities=True)
    pronoun = sentence.tokens[0]
    lemmas = [lemma for lemma, _ in pronoun.top_k["lemma"]]
    assert len(set(lemmas)) == len(lemmas) == 3 and lemmas[0] == "I"
    # two scripts give "I" (keep the form; lower-case it, then upper-case the lemma): the lemma's probability sums
    # both, in `probabilities` as in `top_k` (issue 30, item 10: they differed)
    assert pronoun.top_k["lemma"][0][1] == pytest.approx(pronoun.probabilities["lemma"], abs=1e-12)
    assert sum(p for _, p in pronoun.top_k["lemma"]) <= 1.0 + 1e-6


# -- 3. several files: one document each, ids unique -----------------------------------------------


def _three_files(folder: Path) -> list[str]:
    (folder / "a.txt").write_text("Alpha one. Alpha two.\n")
    (folder / "c.conllu").write_text(CONLLU)
    (folder / "b.txt").write_text("Beta one.\n\nBeta two.\n")
    return ["a.txt", "c.conllu", "b.txt"]


def test_several_files_make_one_document_each_with_sentence_ids_unique_in_the_output(tmp_path):
    files = _three_files(tmp_path)
    one = tagger_cli("tag", "--precision", "float32", *files, "-o", "out.conllu", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    output = (tmp_path / "out.conllu").read_text()
    assert comments(output) == [
        "# newdoc id = a.txt", "# newpar", "# sent_id = 1", "# text = Alpha one.", "# sent_id = 2", "# text = Alpha two.",
        "# newdoc id = mine", "# sent_id = x-7", "# text = Dogs bark.",  # CoNLL-U input keeps its own, byte for byte
        "# newdoc id = b.txt", "# newpar", "# sent_id = 3", "# text = Beta one.", "# newpar", "# sent_id = 4",
        "# text = Beta two.",
    ]
    workers = tagger_cli("tag", "--precision", "float32", "--workers", "2", *files, cwd=tmp_path)
    assert workers.returncode == 0 and workers.stdout == output


def test_output_dir_writes_one_output_per_input_file(tmp_path):
    _three_files(tmp_path)
    result = tagger_cli("tag", "a.txt", "b.txt", "--output-dir", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["a.conllu", "b.conllu"]
    assert comments((tmp_path / "out" / "b.conllu").read_text()) == [
        "# newdoc id = b.txt", "# newpar", "# sent_id = 1", "# text = Beta one.", "# newpar", "# sent_id = 2",
        "# text = Beta two."]


# -- 12. TSV: a header once per output, the ID column, multiword rows ------------------------------


def test_tsv_has_one_header_and_the_conllu_ids_with_multiword_rows(tmp_path):
    (tmp_path / "a.txt").write_text("I don't know.\n")
    (tmp_path / "b.txt").write_text("Fine.\n")
    result = tagger_cli("tag", "-f", "tsv", "--workers", "2", "a.txt", "b.txt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "# id\tform\tupos\txpos\tfeats\tlemma" and sum(line.startswith("#") for line in lines) == 1
    rows = [line.split("\t") for line in lines[1:] if line]
    assert [row[:2] for row in rows] == [["1", "I"], ["2-3", "don't"], ["2", "do"], ["3", "n't"], ["4", "know"], ["5", "."],
                                         ["1", "Fine"], ["2", "."]]
    assert rows[1][2:] == ["_"] * 4 and all(len(row) == 6 for row in rows)
    bare = tagger_cli("tag", "-f", "tsv", "--no-header", "--text", "Fine.", cwd=tmp_path)
    assert not bare.stdout.startswith("#") and bare.stdout.split("\t")[:2] == ["1", "Fine"]


# -- 10. a terminal with nothing piped in -----------------------------------------------------------


def test_a_terminal_on_stdin_gets_a_hint_of_what_tagger_tag_waits_for():
    primary, secondary = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "tagger.cli", "tag", "-m", "no_such_model"], cwd=REPO, env=ENV,
                               stdin=secondary, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(secondary)
    try:
        _, err = process.communicate(timeout=120)  # the hint comes before the model is loaded (and fails here)
    finally:
        os.close(primary)
    assert err.splitlines()[0] == ("tagger tag: reading text from the terminal; end it with Ctrl-D "
                                   "(files or text as arguments: tagger tag --help)")


# -- 2. eval: columns the gold file does not annotate ------------------------------------------------

GOLD_WITHOUT_XPOS = ("# text = Dogs bark.\n1\tDogs\tdog\tNOUN\t_\tNumber=Plur\t_\t_\t_\t_\n"
                     "2\tbark\tbark\tVERB\t_\tMood=Ind|Number=Plur|Person=3|Tense=Pres|VerbForm=Fin\t_\t_\t_\tSpaceAfter=No\n"
                     "3\t.\t.\tPUNCT\t_\t_\t_\t_\t_\t_\n\n")


def test_eval_reports_a_column_left_blank_as_not_annotated_instead_of_100(tmp_path):
    (tmp_path / "gold.conllu").write_text(GOLD_WITHOUT_XPOS)
    text = tagger_cli("eval", "en_ewt", "gold.conllu", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "XPOS         not annotated" in text.stdout.splitlines() and "UPOS" in text.stdout
    scores = json.loads(tagger_cli("eval", "en_ewt", "gold.conllu", "--json", cwd=tmp_path).stdout)
    assert scores["XPOS"] is None and {"UPOS", "UFeats", "Lemmas", "AllTags"} <= set(scores)


def test_eval_of_a_file_that_shares_no_column_with_the_model_is_a_one_line_error(tmp_path):
    (tmp_path / "test.iob2").write_text("1\tO\tO\t-\t-\n2\tLula\tB-PER\t-\t-\n\n")
    assert_one_line_error(tagger_cli("eval", "en_ewt", "test.iob2", cwd=tmp_path),
                          "tagger eval: error: test.iob2: the file annotates none of the model's columns "
                          "(UPOS, XPOS, UFeats, Lemmas)")
