"""The CoNLL-U reader keeps everything it reads and names file and line of what it cannot read."""

from __future__ import annotations

import io

import pytest

from tagger.data.conllu_io import Sentence, parse_conllu, parse_conllu_text, read_conllu, write_conllu
from tagger.errors import DataFormatError

from conftest import SAMPLE_DEV

SENTENCE = """# sent_id = 1
# text = Don't go.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\tMood=Ind\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3\tgo\tgo\tVERB\tVB\tVerbForm=Inf\t0\troot\t_\tSpaceAfter=No
3.1\tgone\t_\t_\t_\t_\t_\t_\t2:x\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\tNER=O

"""


def test_words_exclude_range_lines_and_empty_nodes():
    (sentence,) = parse_conllu_text(SENTENCE)
    assert sentence.forms == ["Do", "n't", "go", "."]
    assert sentence.column("upos") == ["AUX", "PART", "VERB", "PUNCT"]
    assert sentence.column("misc:NER") == ["_", "_", "_", "O"]


def test_writing_back_is_byte_identical():
    (sentence,) = parse_conllu_text(SENTENCE)
    assert sentence.to_conllu() == SENTENCE


def test_real_sample_round_trips_byte_for_byte():
    text = SAMPLE_DEV.read_text(encoding="utf-8")
    out = io.StringIO()
    write_conllu(read_conllu(SAMPLE_DEV), out)
    assert out.getvalue() == text


def test_set_column_changes_only_that_column():
    (sentence,) = parse_conllu_text(SENTENCE)
    sentence.set_column("upos", ["X", "X", "X", "X"])
    sentence.set_column("misc:NER", ["B-PER", "O", "O", "O"])
    lines = sentence.to_conllu().splitlines()
    assert lines[3].split("\t")[3] == "X" and lines[3].split("\t")[9] == "NER=B-PER"
    assert lines[5].split("\t")[9] == "SpaceAfter=No|NER=O"
    assert lines[2] == SENTENCE.splitlines()[2]  # the range line is untouched


def test_from_forms_builds_a_plain_sentence():
    sentence = Sentence.from_forms(["Hello", "world"])
    assert sentence.forms == ["Hello", "world"]
    assert sentence.to_conllu().startswith("1\tHello\t_\t_")


def test_bom_and_crlf_are_accepted():
    data = ("\ufeff" + SENTENCE.replace("\n", "\r\n")).encode("utf-8")
    (sentence,) = parse_conllu(io.BytesIO(data), "x.conllu")
    assert sentence.forms == ["Do", "n't", "go", "."]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1\tDo\tdo\n", 1, "expected 10 tab-separated columns, found 3"),
        ("1 Do do AUX VBP _ 0 root _ _\n", 1, "not spaces"),
        ("# c\nx\tDo\t_\t_\t_\t_\t_\t_\t_\t_\n", 2, "bad ID 'x'"),
        ("1\tA\t_\t_\t_\t_\t_\t_\t_\t_\n3\tB\t_\t_\t_\t_\t_\t_\t_\t_\n", 2, "out of order"),
        ("1-3\tAB\t_\t_\t_\t_\t_\t_\t_\t_\n1\tA\t_\t_\t_\t_\t_\t_\t_\t_\n2\tB\t_\t_\t_\t_\t_\t_\t_\t_\n\n", 3, "multiword range ends at 3"),
        ("1\tA\t_\t_\t_\t_\t_\t_\t_\t_\n3-4\tCD\t_\t_\t_\t_\t_\t_\t_\t_\n", 2, "bad multiword range '3-4'"),
        ("1\tA\t_\t_\t_\t_\t_\t_\t_\t_\n# late comment\n", 2, "comment line inside a sentence"),
    ],
)
def test_malformed_lines_are_reported_with_file_and_line(text, line, message):
    with pytest.raises(DataFormatError) as error:
        list(parse_conllu(io.BytesIO(text.encode("utf-8")), "bad.conllu"))
    assert error.value.line == line
    assert message in str(error.value)
    assert str(error.value).startswith(f"bad.conllu:{line}: ")


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "latin1.conllu"
    path.write_bytes(SENTENCE.encode("utf-8") + "1\tcaf\xe9\t_\t_\t_\t_\t_\t_\t_\t_\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"latin1.conllu:10: not valid UTF-8"):
        read_conllu(path)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_a_file_without_sentences_is_an_error(tmp_path, content):
    path = tmp_path / "empty.conllu"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match="no sentences"):
        read_conllu(path)
