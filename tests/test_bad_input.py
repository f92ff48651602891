"""The bad-input catalogue: everything a user can hand the tagger, and what they get back.

A mistake ends in one line on stderr saying what is wrong and where (file:line for data), exit
code 2 and no traceback. Inputs that are unusual but not wrong (a BOM, CRLF line ends, empty or
exotic raw text) simply work. `tagger eval`/`tag` run in-process here (cheap); `tagger train`
runs in a subprocess, as Hydra owns its process.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conftest import SAMPLE_DEV
from tagger.cli import main
from tagger.data.conllu_io import parse_conllu_text, read_conllu
from tagger.data.readers import read_data
from tagger.errors import DataFormatError, ModelFileError, TaggerError
from tagger.inference.tagger import Tagger
from tagger.model.model_file import load_model
from training_runs import ENV, run


def word(number: int | str, form: str = "w") -> str:
    return f"{number}\t{form}\t_\tX\t_\t_\t_\t_\t_\t_\n"


def cli(capsys, *args: str) -> tuple[int, str]:
    """`tagger ARGS` in-process: the exit code and stderr (argparse's own exits included)."""
    try:
        code = main(list(args))
    except SystemExit as exit:
        code = exit.code
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, expected: str) -> None:
    assert code == 2
    assert re.fullmatch(rf"tagger (eval|tag): error: {re.escape(expected)}\n", err), err


# -- CoNLL-U files ---------------------------------------------------------------------------

BAD_CONLLU = [
    pytest.param(b"1\tHello\t_\n", "1: expected 10 tab-separated columns, found 3", id="too-few-columns"),
    pytest.param(word(1).replace("\n", "\t_\n").encode(), "1: expected 10 tab-separated columns, found 11", id="too-many-columns"),
    pytest.param(word(1).replace("\t", " ").encode(), "1: expected 10 tab-separated columns, found 1 "
                 "(columns must be separated by tabs, not spaces)", id="spaces-for-tabs"),
    pytest.param(word(1).replace("\tX\t", "\tX ", 1).encode(), "1: expected 10 tab-separated columns, found 9 "
                 "(columns must be separated by tabs, not spaces)", id="one-space-for-a-tab"),
    pytest.param(word("one").encode(), "1: bad ID 'one': expected an integer, a range like 3-4 or a decimal like 5.1", id="bad-id"),
    pytest.param((word(1) + word(3)).encode(), "2: word ID 3 out of order (expected 2)", id="id-gap"),
    pytest.param((word(1) + word(1)).encode(), "2: word ID 1 out of order (expected 2)", id="id-repeated"),
    pytest.param((word(2) + word(1)).encode(), "1: word ID 2 out of order (expected 1)", id="ids-reversed"),
    pytest.param((word("1-3") + word(1) + word(2)).encode(), "3: multiword range ends at 3, but the sentence has 2 words",
                 id="range-past-the-sentence"),
    pytest.param((word("2-1") + word(1)).encode(), "1: bad ID '2-1': expected an integer, a range like 3-4 or a decimal like 5.1",
                 id="range-backwards"),
    pytest.param((word(1) + word("3-4") + word(2)).encode(), "2: bad multiword range '3-4' after word 1", id="range-skips-a-word"),
    pytest.param((word(1) + word(2) + word("1.1")).encode(), "3: empty node '1.1' out of place after word 2", id="empty-node-misplaced"),
    pytest.param(word(1).encode().replace(b"\tw\t", b"\tH\xe9llo\t"), "1: not valid UTF-8 (byte 0xe9 at column 4)", id="latin-1"),
    pytest.param(word(1).replace("\tw\t", "\t\t").encode(), "1: empty FORM", id="empty-form"),
    pytest.param(b"# sent_id = 1\n# text = nothing\n", "1: sentence without words (comments only)", id="comments-only"),
    pytest.param((word(1) + "# late\n").encode(), "2: comment line inside a sentence (comments must precede the token lines)",
                 id="comment-inside-sentence"),
    pytest.param(b"", ": no sentences found (the file is empty or holds only blank lines)", id="empty-file"),
    pytest.param(b"\n  \n\t\n\n", ": no sentences found (the file is empty or holds only blank lines)", id="blank-lines-only"),
]


@pytest.mark.parametrize(("content", "message"), BAD_CONLLU)
def test_malformed_conllu_is_one_line_naming_file_and_line(capsys, tmp_path, tiny_model, content, message):
    path = tmp_path / "bad.conllu"
    path.write_bytes(content)
    assert_one_line_error(*cli(capsys, "eval", str(tiny_model), str(path)), f"{path}{':' if message[0] != ':' else ''}{message}")


def test_a_missing_data_file_is_named(capsys, tmp_path, tiny_model):
    path = tmp_path / "nowhere.conllu"
    assert_one_line_error(*cli(capsys, "eval", str(tiny_model), str(path)), f"{path}: no such file")


@pytest.mark.parametrize(
    "mangle",
    [lambda data: b"\xef\xbb\xbf" + data, lambda data: data.replace(b"\n", b"\r\n")],
    ids=["byte-order-mark", "crlf-line-ends"],
)
def test_a_bom_or_crlf_line_ends_read_like_the_plain_file(capsys, tmp_path, tiny_model, mangle):
    path = tmp_path / "dev.conllu"
    path.write_bytes(mangle(SAMPLE_DEV.read_bytes()))
    assert [s.rows for s in read_conllu(path)] == [s.rows for s in read_conllu(SAMPLE_DEV)]
    scores = []
    for gold in (SAMPLE_DEV, path):
        assert main(["eval", str(tiny_model), str(gold), "--json"]) == 0
        scores.append(json.loads(capsys.readouterr().out))
    assert scores[0] == scores[1]


# -- column and UNER files (NER readers) -----------------------------------------------------

BAD_COLUMNS = [
    pytest.param("x.conll", b"EU\tB-ORG\nrejects\tO\textra\n", "columns", "2: expected 2 columns (form ner), found 3 (read as "
                 "a column file; --format or data.format names another format, --fields or data.fields the columns)",
                 id="extra-column"),
    pytest.param("x.conll", b"EU\tX-ORG\n", "columns", "1: bad entity tag 'X-ORG' in misc:NER: expected O or B-, I-, E-, S- "
                 "followed by a type", id="bad-entity-tag"),
    pytest.param("x.conll", b"EU\tB-ORG\n\xff\tO\n", "columns", "2: not valid UTF-8 (byte 0xff at column 1)", id="bad-utf8"),
    pytest.param("x.iob2", b"1\tEU\tB-ORG\t_\n", "uner", "1: expected 5 tab-separated columns, found 4", id="uner-four-columns"),
    pytest.param("x.conll", b"\n\n", "columns", ": no sentences found (the file is empty or holds only blank lines)", id="no-sentences"),
]


@pytest.mark.parametrize(("name", "content", "format", "message"), BAD_COLUMNS)
def test_malformed_entity_files_name_file_and_line(tmp_path, name, content, format, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataFormatError) as error:
        read_data(path, format, ["form", "ner"] if format == "columns" else None, "auto", ["misc:NER"])
    assert str(error.value) == f"{path}{':' if message[0] != ':' else ''}{message}"


def test_column_fields_without_a_form_are_refused():
    with pytest.raises(TaggerError, match="must name the 'form' column"):
        read_data(SAMPLE_DEV, "columns", ["ner"], "auto", [])


# -- model files -----------------------------------------------------------------------------


def _newer_version(model: Path, target: Path) -> None:
    with safe_open(str(model), framework="pt") as handle:
        metadata = handle.metadata()
    save_file(load_file(str(model)), str(target), metadata={**metadata, "format_version": "99"})


BAD_MODELS = [
    pytest.param(lambda model, path: None, "no such model file, nor the name of an installed or shipped model", id="missing"),
    pytest.param(lambda model, path: path.write_bytes(b""), "not a tagger model file, or a truncated or corrupt one", id="empty"),
    pytest.param(lambda model, path: path.write_bytes(model.read_bytes()[: model.stat().st_size // 2]),
                 "not a tagger model file, or a truncated or corrupt one", id="truncated"),
    pytest.param(lambda model, path: path.write_text("I am a README, not a model\n"),
                 "not a tagger model file, or a truncated or corrupt one", id="text-file"),
    pytest.param(lambda model, path: save_file({"w": torch.zeros(2)}, str(path)),
                 "a safetensors file, but not a tagger model (no 'tagger-model' marker)", id="foreign-safetensors"),
    pytest.param(_newer_version, "model format version 99 is newer than this tagger reads (1); upgrade tagger", id="newer-format"),
    pytest.param(lambda model, path: torch.save({"state_dict": {"w": torch.zeros(2)}}, path),
                 "a zip archive (such as a PyTorch .pt or Lightning .ckpt file, which carry pickles), not a tagger model "
                 "file; tagger never unpickles (it could run code)", id="zip-with-pickle"),
    pytest.param(lambda model, path: path.write_bytes(pickle.dumps({"weights": [1, 2]})),
                 "a Python pickle, not a tagger model file; tagger never unpickles (it could run code)", id="bare-pickle"),
]


@pytest.mark.parametrize(("make", "message"), BAD_MODELS)
def test_a_bad_model_file_is_one_line_naming_it(capsys, tmp_path, tiny_model, make, message):
    path = tmp_path / "model.safetensors"
    make(tiny_model, path)
    code, err = cli(capsys, "eval", str(path), str(SAMPLE_DEV))
    assert code == 2 and err.startswith(f"tagger eval: error: {path}: ") and err.count("\n") == 1, err
    assert message in err


def test_a_zip_is_recognised_whatever_it_carries(tmp_path):
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(print))
    with pytest.raises(ModelFileError, match="never unpickles"):
        load_model(path)


# -- command-line arguments ------------------------------------------------------------------

BAD_ARGUMENTS = [
    pytest.param([], "the following arguments are required: command (see tagger --help)", id="no-command"),
    pytest.param(["nosuch"], "argument command: invalid choice: 'nosuch'", id="unknown-command"),
    pytest.param(["eval"], "the following arguments are required: model, file (see tagger eval --help)", id="eval-without-files"),
    pytest.param(["eval", "m", "f", "--scheme", "bilou"], "argument --scheme: invalid choice: 'bilou'", id="bad-choice"),
    pytest.param(["tag", "--threads", "two"], "argument --threads: invalid int value: 'two'", id="bad-number"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_one_line(capsys, args, message):
    code, err = cli(capsys, *args)
    assert code == 2 and err.startswith("tagger") and err.count("\n") == 1 and message in err, err


def tagger_in(directory: Path, *args: str) -> subprocess.CompletedProcess:
    """`tagger ARGS` in a subprocess, run from `directory` (where Hydra would make a run directory)."""
    return subprocess.run([sys.executable, "-m", "tagger.cli", *args], cwd=directory, env=ENV, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["tag", "--outputformat", "json"], "tagger tag: error: unrecognized arguments: --outputformat; "
                                             "did you mean --output-format? (see tagger tag --help)"),
        (["tag", "--top_k=3", "Hi"], "tagger tag: error: unrecognized arguments: --top_k=3; did you mean --top-k? "
                                     "(see tagger tag --help)"),
        (["eval", "m.safetensors", "dev.conllu", "--jsn"], "tagger eval: error: unrecognized arguments: --jsn; "
                                                           "did you mean --json? (see tagger eval --help)"),
        (["tag", "--zzz", "Hi"], "tagger tag: error: unrecognized arguments: --zzz (see tagger tag --help)"),
    ],
    ids=["tag-misspelt", "tag-underscore", "eval-misspelt", "nothing-close"],
)
def test_an_unknown_option_names_the_command_and_the_closest_option(tmp_path, args, line):
    result = tagger_in(tmp_path, *args)
    assert result.returncode == 2 and result.stderr == line + "\n"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["data=tr_atis", "--max-epochs", "2"], "--max-epochs: tagger train takes Hydra overrides (key=value), not "
                                                "options: write trainer.max_epochs=2 (tagger train --help lists the keys)"),
        (["--lr=0.01"], "--lr: tagger train takes Hydra overrides (key=value), not options: write optimizer.lr=0.01 "
                        "(tagger train --help lists the keys)"),
        (["--data", "en_ewt"], "--data: tagger train takes Hydra overrides (key=value), not options: write data=en_ewt "
                               "(tagger train --help lists the keys)"),
        (["--zzz"], "--zzz: tagger train takes Hydra overrides (key=value), not options: such as trainer.max_epochs=2 "
                    "(tagger train --help lists the keys)"),
    ],
    ids=["max-epochs", "learning-rate", "group", "nothing-close"],
)
def test_an_option_given_to_train_says_which_override_to_write(tmp_path, args, line):
    result = tagger_in(tmp_path, "train", *args)
    assert result.returncode == 2 and result.stderr == f"tagger train: error: {line}\n"
    assert list(tmp_path.iterdir()) == []  # no run directory


def test_hydras_own_options_still_reach_it(tmp_path):
    result = tagger_in(tmp_path, "train", "--cfg", "job", "data=sample")
    assert result.returncode == 0, result.stderr
    assert "max_epochs:" in result.stdout and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["eval", "tag"])
def test_an_existing_output_is_never_overwritten_without_force(capsys, tmp_path, tiny_model, command):
    output = tmp_path / "out.conllu"
    output.write_text("precious\n")
    args = [str(tiny_model), str(SAMPLE_DEV)] if command == "eval" else ["-m", str(tiny_model), str(SAMPLE_DEV)]
    assert_one_line_error(*cli(capsys, command, *args, "--output", str(output)), f"--output {output} exists; pass --force to overwrite it")
    assert output.read_text() == "precious\n"
    assert cli(capsys, command, *args, "--output", str(output), "--force")[0] == 0
    assert output.read_text() != "precious\n"


def test_debug_shows_the_traceback(tmp_path, tiny_model):
    with pytest.raises(DataFormatError):
        main(["--debug", "eval", str(tiny_model), str(tmp_path / "nowhere.conllu")])


# -- `tagger train`: config overrides, data, run directories ---------------------------------

BAD_TRAINING = [
    pytest.param(["nosuchkey=1"], r"unknown config key 'nosuchkey' \(known keys there: callbacks, ckpt_path, data, data_dir, .*\)", id="unknown-key"),
    pytest.param(["trainer.nosuch=1"], r"unknown config key 'trainer.nosuch' \(known keys there: accelerator, .*\)",
                 id="unknown-trainer-key"),
    pytest.param(["model.encodr.layers=3"], r"unknown config key 'model.encodr' \(did you mean 'model.encoder'\?\)",
                 id="misspelt-key"),
    pytest.param(["+model.encodr=3"], r"unknown config key 'model.encodr' \(did you mean 'model.encoder'\?\)",
                 id="misspelt-added-key"),
    pytest.param(["+trainer.nosuch=1"], r"invalid configuration: Trainer.__init__\(\) got an unexpected keyword argument 'nosuch'",
                 id="added-key-the-trainer-rejects"),
    pytest.param(["model.encoder.layers=0"], r"model.encoder.layers=0: expected an integer >= 1", id="no-encoder-layers"),
    pytest.param(["data.max_tokens=-5"], r"data.max_tokens=-5: expected an integer >= 1", id="negative-batch-size"),
    pytest.param(["optimizer.lr=fast"], r"optimizer.lr='fast': expected a number > 0.0", id="learning-rate-of-the-wrong-type"),
    pytest.param(["trainer.max_epochs=ten"], r"trainer.max_epochs='ten': expected an integer >= 1", id="trainer-value-of-the-wrong-type"),
    pytest.param(["model.dropout=1.5"], r"model.dropout=1.5: expected a number in \[0.0, 1.0\)", id="dropout-out-of-range"),
    pytest.param(["schedule.warmup_steps=soon"], r"schedule.warmup_steps='soon': expected an integer >= 0",
                 id="schedule-value-of-the-wrong-type"),
    pytest.param(["data.format=xml"], r"data.format='xml': expected one of conllu, uner, columns", id="unknown-data-format"),
    pytest.param(["optimizer.betas=oops"], r"invalid configuration: optimizer .*'betas': 'oops'.*", id="optimizer-option-torch-rejects"),
    pytest.param(["model/cle=lstm"], r"no config 'model/cle/lstm' \(available: cnn, gru\)", id="unknown-group-option"),
    pytest.param(["model.cle.type=lstm"], r"model.cle.type='lstm': expected one of gru, cnn", id="unknown-encoder"),
    pytest.param(["max_epochs"], r"Error parsing override 'max_epochs' missing EQUAL at '<EOF>' \(overrides look like key=value, .*\)",
                 id="override-without-value"),
    pytest.param(["data.train=nowhere.conllu"], r"nowhere.conllu: data.train: no such file", id="missing-data"),
    pytest.param(["data.columns=[upos,nosuch]"], r"data.columns: unknown tag column 'nosuch': use one of .*", id="unknown-tag-column"),
    pytest.param(["resume=nowhere"], r"resume=nowhere: no checkpoints/last.ckpt there to resume from", id="resume-without-checkpoint"),
    pytest.param(["data.language=french"], r"data.language='french': expected an ISO 639 language code \(such as en, fr, tr or grc\) or null",
                 id="language-not-a-code"),
]


@pytest.mark.parametrize(("overrides", "pattern"), BAD_TRAINING)
def test_bad_training_input_is_one_line_without_traceback(tmp_path, overrides, pattern):
    result = run([sys.executable, "-m", "tagger.cli", "train", "data=sample", f"hydra.run.dir={tmp_path}", *overrides])
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr[-3000:]
    assert re.fullmatch("tagger train: error: " + pattern, result.stderr.strip()), result.stderr
    assert not tmp_path.exists() or not (tmp_path / ".hydra").exists(), "a failed run leaves its directory behind"


@pytest.mark.parametrize("existing", ["model.safetensors", "checkpoints/last.ckpt"])
def test_training_never_overwrites_a_model_or_a_run(tmp_path, existing):
    kept = tmp_path / existing
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(b"precious")
    result = run([sys.executable, "-m", "tagger.cli", "train", "data=sample", f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr[-3000:]
    assert ("output_model=" if existing.endswith("safetensors") else f"resume={tmp_path} continues it") in result.stderr
    assert kept.read_bytes() == b"precious"


# -- raw text: unusual, never wrong -----------------------------------------------------------

RAW_TEXTS = {
    "empty": "",
    "whitespace-only": " \n\t\u00a0\u3000\r\n ",
    "10000-character-token": "x" * 10_000,
    "emoji": "I ❤️ pizza 🍕 with my 👨‍👩‍👧 👍🏽 🇫🇷!",
    "right-to-left": "שלום עולם. مرحبا بالعالم. می‌خواهم بروم.",
    "control-characters": "bell\x07 escape\x1b[31m red\x1b[0m form\x0cfeed \x85next",
    "nul": "a\x00b \x00 c\x00",
    "zero-width-and-bidi": "zero\u200bwidth \u202eevil\u202c \u2028line\u2029para",
}


@pytest.mark.parametrize("text", RAW_TEXTS.values(), ids=RAW_TEXTS.keys())
def test_raw_text_edge_cases_simply_work(tiny_model, text):
    document = Tagger.load(tiny_model).tag(text, input_format="raw")
    tokens = [token for sentence in document for token in sentence.tokens]
    assert all(token.form and text[token.start : token.end] == token.form for token in tokens)
    assert "".join(token.form for token in tokens) == "".join(text.split())  # every visible character, once
    assert all(token["upos"] not in ("_", "<unk>", "<pad>") for token in tokens)
    conllu = document.to_conllu()
    assert [w for s in parse_conllu_text(conllu) for w in s.forms] == [w for s in document for w in s.sentence.forms]


def test_the_long_token_keeps_all_its_characters(tiny_model):
    (sentence,) = Tagger.load(tiny_model).tag("x" * 10_000, input_format="raw")
    assert [token.form for token in sentence.tokens] == ["x" * 10_000]
