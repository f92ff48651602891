"""`tagger tag`: text, files or stdin in; CoNLL-U, TSV or JSON Lines out; one-line errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLE_DEV
from tagger.cli import build_parser, main
from tagger.cli_tag import model_to_load, output_format

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run_tag(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tagger.cli", "tag", *args], cwd=REPO, env=ENV, input=stdin, capture_output=True, timeout=300
    )


def tag_in_process(capsys, monkeypatch, *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    code = main(["tag", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_default_model_is_the_shipped_english_one_or_the_one_of_the_language_given():
    args = build_parser().parse_args(["tag", "Some text."])
    assert args.input == ["Some text."] and output_format(args) == "conllu"
    assert model_to_load(args.model, args.language) == "en_ewt"
    assert model_to_load(None, "en") == "en_ewt" and model_to_load(None, "fr") == "fr"  # a code names its one model
    assert model_to_load("my.safetensors", "fr") == "my.safetensors"


def test_stdin_raw_text_streams_to_conllu_on_stdout(tiny_model):
    result = run_tag("--model", str(tiny_model), "--language", "en", stdin=b"I can't wait.\nReally!\n")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert "# text = I can't wait." in out and "# text = Really!" in out
    assert "\n2-3\tcan't\t" in out and "\n3\tn't\t" in out


def test_text_arguments_are_tagged_as_one_text(tiny_model, capsys, monkeypatch):
    code, out, _ = tag_in_process(capsys, monkeypatch, "-m", str(tiny_model), "Hello", "there", "-f", "tsv")
    assert code == 0
    assert [line.split("\t")[1] for line in out.splitlines() if line and not line.startswith("#")] == ["Hello", "there"]


def test_json_lines_carry_offsets_and_probabilities(tiny_model, capsys, monkeypatch):
    code, out, _ = tag_in_process(
        capsys, monkeypatch, "-m", str(tiny_model), "-f", "json", "--probabilities", stdin="Un. Deux trois.\n".encode()
    )
    assert code == 0
    sentences = [json.loads(line) for line in out.splitlines()]
    assert [s["text"] for s in sentences] == ["Un.", "Deux trois."]
    assert sentences[1]["tokens"][0]["start"] == 4 and "probabilities" in sentences[1]["tokens"][0]


def test_offsets_index_the_input_as_decoded_even_with_crlf_line_ends(tiny_model, capsys, monkeypatch):
    text = "Hi there.\r\nNext one.\r\n"
    code, out, _ = tag_in_process(capsys, monkeypatch, "-m", str(tiny_model), "-f", "json", stdin=text.encode())
    assert code == 0
    tokens = [t for line in out.splitlines() for t in json.loads(line)["tokens"]]
    assert [text[t["start"] : t["end"]] for t in tokens] == [t["form"] for t in tokens] == ["Hi", "there", ".", "Next", "one", "."]


def test_tokenized_input_keeps_the_given_tokens(tiny_model, capsys, monkeypatch):
    code, out, _ = tag_in_process(
        capsys, monkeypatch, "-m", str(tiny_model), "-i", "tokenized", "-f", "tsv", stdin=b"a-b c.d\n\nnext one\n"
    )
    assert code == 0
    assert [line.split("\t")[1] if line else "" for line in out.splitlines()[1:]] == ["a-b", "c.d", "", "next", "one", ""]


def test_a_conllu_file_comes_back_with_only_the_predicted_columns_changed(tiny_model, tmp_path):
    output = tmp_path / "tagged.conllu"
    result = run_tag("-m", str(tiny_model), str(SAMPLE_DEV), "--output", str(output))  # CoNLL-U by its extension
    assert result.returncode == 0, result.stderr.decode()
    original = SAMPLE_DEV.read_bytes().split(b"\n")
    tagged = output.read_bytes().split(b"\n")
    assert len(tagged) == len(original)
    for before, after in zip(original, tagged):
        before_fields, after_fields = before.split(b"\t"), after.split(b"\t")
        if len(before_fields) == 10 and before_fields[0].isdigit():
            del before_fields[2:6], after_fields[2:6]  # LEMMA, UPOS, XPOS, FEATS: the model's columns
        assert after_fields == before_fields


def test_an_existing_output_is_kept_unless_forced(tiny_model, tmp_path, capsys, monkeypatch):
    output = tmp_path / "out.conllu"
    output.write_text("precious")
    code, _, err = tag_in_process(capsys, monkeypatch, "-m", str(tiny_model), "Hi.", "-o", str(output))
    assert code == 2 and "--force" in err and output.read_text() == "precious"
    code, _, _ = tag_in_process(capsys, monkeypatch, "-m", str(tiny_model), "Hi.", "-o", str(output), "--force")
    assert code == 0 and output.read_text().startswith("# newpar")
    assert list(tmp_path.iterdir()) == [output]  # no partial file left behind


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["-m", "no_such_model", "text"], b"", "no_such_model: no such model file"),
        ([str(SAMPLE_DEV), "notes.txt"], b"", "notes.txt: no such file"),  # alone, "notes.txt" would be text
        ([], b"fine\n\xff\xfe\n", "<stdin>:2: not valid UTF-8"),
        (["-i", "conllu"], b"1\tbroken\n", "<stdin>:1: expected 10 tab-separated columns"),
        (["-f", "conllu", "--probabilities", "text"], b"", "--probabilities needs --output-format json or tsv"),
    ],
    ids=["unknown-model", "missing-file", "bad-utf8", "bad-conllu", "probabilities-in-conllu"],
)
def test_errors_are_one_line_on_stderr_with_exit_code_2(tiny_model, args, stdin, message):
    if "-m" not in args:
        args = ["-m", str(tiny_model), *args]
    result = run_tag(*args, stdin=stdin)
    err = result.stderr.decode()
    assert result.returncode == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("output_format", ["conllu", "json"])
def test_workers_write_what_one_process_writes_in_input_order(tiny_model, tmp_path, output_format):
    text = "".join(f"Sentence number {i} is here. It has two parts.\n\n" for i in range(1200))  # several chunks
    (tmp_path / "in.txt").write_text(text)
    common = ("--model", str(tiny_model), "--precision", "float32", "--output-format", output_format, str(tmp_path / "in.txt"))
    one, two = run_tag(*common), run_tag("--workers", "2", *common)
    assert one.returncode == two.returncode == 0, two.stderr.decode()
    assert two.stdout == one.stdout and one.stdout.count(b"Sentence number 1199") == 1


def test_workers_must_be_at_least_one(tiny_model):
    result = run_tag("--model", str(tiny_model), "--workers", "0", "Some text.")
    assert result.returncode == 2 and result.stderr.decode().strip() == "tagger tag: error: --workers 0: give 1 or more processes"
