"""What a new user meets in the first ten minutes: the CLI, the Python objects, a first training."""

from __future__ import annotations

import csv
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from conftest import SAMPLE_DEV, TINY_MODEL
from tagger import Tagger, __version__
from tagger.errors import TaggerError
from tagger.inference.documents import TaggedToken
from tagger.inference.shipped import SHIPPED_DIR
from training_runs import ENV, REPO, run

CONLLU = "# text = Dogs bark.\n1\tDogs\t_\t_\t_\t_\t_\t_\t_\t_\n2\tbark\t_\t_\t_\t_\t_\t_\t_\tSpaceAfter=No\n3\t.\t_\t_\t_\t_\t_\t_\t_\t_\n\n"


def tagger_cli(*args: str, stdin: str | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tagger.cli", *args], cwd=cwd, env=ENV, input=stdin,
                          capture_output=True, text=True, timeout=300)


# -- CLI --------------------------------------------------------------------------------------


def test_version_and_with_v_torch_and_the_installed_and_shipped_models():
    plain = tagger_cli("--version")
    assert plain.returncode == 0 and plain.stdout == f"tagger {__version__}\n"
    verbose = tagger_cli("--version", "-v").stdout
    assert "torch " in verbose and "shipped models: en_ewt 0.1.0 (en) in " in verbose and "installed models: " in verbose


@pytest.mark.parametrize("where", ["stdin", "txt-file"])
def test_conllu_is_recognised_by_its_content(tiny_model, tmp_path, where):
    path = tmp_path / "words.txt"
    path.write_text(CONLLU)
    args = ["tag", "-m", str(tiny_model)] + ([] if where == "stdin" else [str(path)])
    result = tagger_cli(*args, stdin=CONLLU if where == "stdin" else None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# text = Dogs bark.\n1\tDogs\t") and "# text = # text" not in result.stdout


def test_eval_reads_a_ud_file_named_conll_as_conllu(tiny_model, tmp_path):
    path = tmp_path / "dev.conll"
    path.write_bytes(SAMPLE_DEV.read_bytes())
    result = tagger_cli("eval", str(tiny_model), str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert "UPOS" in result.stdout


def test_several_files_are_tagged_in_order_into_one_output(tiny_model, tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("Alpha one.\n")
    second.write_text("Beta two.\n")
    result = tagger_cli("tag", "-m", str(tiny_model), str(first), str(second))
    assert result.returncode == 0, result.stderr
    texts = [line for line in result.stdout.splitlines() if line.startswith("# text = ")]
    assert texts == ["# text = Alpha one.", "# text = Beta two."]
    missing = tagger_cli("tag", "-m", str(tiny_model), str(first), str(tmp_path / "nowhere.txt"))
    assert missing.returncode == 2 and "nowhere.txt: no such file" in missing.stderr


def test_language_must_be_an_iso_639_code_and_another_than_the_models_is_refused_in_one_line(tiny_model):
    bad = tagger_cli("tag", "-m", str(tiny_model), "--language", "xx", "Hello.")
    assert bad.returncode == 2 and bad.stderr == "tagger tag: error: --language 'xx' is not an ISO 639 language code (such as en, fr, tr or grc)\n"
    other = tagger_cli("tag", "-m", str(tiny_model), "--language", "fr", "Bonjour.")
    assert other.returncode == 2 and other.stdout == ""
    assert other.stderr == ("tagger tag: error: language fr given, but the model was trained on en text: tag fr text with "
                            "a fr model (`tagger download fr` installs one)\n")


def test_language_without_a_model_picks_that_languages_model_or_says_how_to_get_one():
    """No --model: --language fr means the French model, not the default English one with a warning."""
    french = tagger_cli("tag", "--language", "fr", "Le chat dort.")
    assert french.returncode == 2 and french.stdout == ""
    assert french.stderr.startswith("tagger tag: error: fr: no model for language 'fr' is installed; `tagger download fr` "
                                    "installs one (installed: ") and len(french.stderr.splitlines()) == 1
    english = tagger_cli("tag", "--language", "en", "-f", "tsv", "--no-header", "The cat sleeps.")
    assert english.returncode == 0 and [line.split("\t")[1] for line in english.stdout.splitlines() if line] == ["The", "cat", "sleeps", "."]


def _stderr_through_a_terminal(args: list[str]) -> str:
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    process = subprocess.Popen([sys.executable, "-m", "tagger.cli", *args], cwd=REPO, env=ENV, stderr=secondary,
                               stdout=subprocess.DEVNULL)
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        seen += chunk
    process.wait(timeout=300)
    os.close(primary)
    return seen.decode(errors="replace")


def test_long_runs_show_progress_on_a_terminal_and_nothing_in_a_pipe(tiny_model, tmp_path):
    text = tmp_path / "long.txt"
    text.write_text("".join(f"Sentence number {i} is here.\n" for i in range(3000)))
    args = ["tag", "-m", str(tiny_model), str(text), "-o", str(tmp_path / "out.conllu"), "--force"]
    assert "long.txt:" in _stderr_through_a_terminal(args) and "B/s" in _stderr_through_a_terminal(args)
    piped = tagger_cli(*args)
    assert piped.returncode == 0 and piped.stderr == ""


# -- Python -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tagger(tiny_model) -> Tagger:
    return Tagger.load(tiny_model)


def test_pipe_tags_a_batch_of_texts_one_document_each(tagger):
    documents = list(tagger.pipe(["I don't like it.", "U.S. policy!"], batch_size=1))
    assert [[token.form for sentence in doc for token in sentence] for doc in documents] == [
        ["I", "do", "n't", "like", "it", "."], ["U.S.", "policy", "!"]]


def test_a_list_of_plain_strings_is_refused_with_a_pointer_to_pipe(tagger):
    with pytest.raises(TaggerError, match=r"use pipe\(texts\)"):
        tagger.tag(["I don't like it.", "U.S. policy!"])
    lines = tagger.tag(["The cat .", "A dog ."], input_format="tokenized")
    assert [[token.form for token in sentence] for sentence in lines] == [["The", "cat", "."], ["A", "dog", "."]]


def test_sentences_iterate_over_their_words_built_once(tagger):
    (sentence,) = tagger.tag("She can't swim.")
    assert [token.form for token in sentence] == ["She", "ca", "n't", "swim", "."]
    assert sentence.tokens is sentence.tokens


def test_words_reach_their_multiword_token_and_features_read_as_a_dict(tagger):
    (sentence,) = tagger.tag("She can't swim.")
    can, nt = sentence.tokens[1], sentence.tokens[2]
    assert can.multiword is nt.multiword and (can.multiword.form, can.multiword.start, can.multiword.end) == ("can't", 4, 9)
    assert sentence.tokens[0].multiword is None
    assert sentence.tokens[0].lemma == sentence.tokens[0].tags["lemma"]


def test_features_read_as_a_dict_and_a_model_without_lemmas_has_none():
    dogs = TaggedToken(1, "Dogs", {"upos": "NOUN", "feats": "Number=Plur|Person=3"})
    assert dogs.features == {"Number": "Plur", "Person": "3"}
    assert TaggedToken(2, "to", {"feats": "_"}).features == {}
    assert TaggedToken(1, "Dogs", {"upos": "NOUN"}).features == {}  # a model without FEATS
    assert TaggedToken(1, "Dogs", {"upos": "NOUN"}).lemma is None  # a model without lemmas (NER) has none


def test_the_package_is_typed():
    import tagger as package

    assert (Path(package.__file__).parent / "py.typed").is_file()


def test_tag_takes_raw_text_conllu_and_token_lists(tagger):
    text = "Dogs bark. Cats sleep."
    raw = tagger.tag(text)
    assert [[token.form for token in sentence] for sentence in raw] == [["Dogs", "bark", "."], ["Cats", "sleep", "."]]
    assert [(token.start, token.end) for token in raw[1]] == [(11, 15), (16, 21), (21, 22)]
    conllu = tagger.tag(CONLLU)
    assert [token.form for sentence in conllu for token in sentence] == ["Dogs", "bark", "."]
    assert conllu[0].to_conllu().splitlines()[2].endswith("\tSpaceAfter=No")  # fields it does not predict are kept
    lists = tagger.tag([["Dogs", "bark", "."], ["Cats", "sleep"]])
    assert [[(token.form, token.start) for token in sentence] for sentence in lists] == [
        [("Dogs", None), ("bark", None), (".", None)], [("Cats", None), ("sleep", None)]]
    with pytest.raises(TaggerError, match=r"for a list of texts use pipe\(texts\)"):
        tagger.tag(["Dogs bark.", "Cats sleep."])


def test_top_k_tags_come_with_their_probabilities(tagger):
    (sentence,) = tagger.tag("Dogs bark loudly.", top_k=3, probabilities=True)
    for token in sentence:
        ranked = token.top_k["upos"]
        best = ranked[0][1]
        assert len(ranked) == 3 and token.upos in [tag for tag, p in ranked if p == best]  # ties may come in any order
        assert best == pytest.approx(token.probabilities["upos"])
        assert ranked[0][1] >= ranked[1][1] >= ranked[2][1] and sum(p for _, p in ranked) <= 1.0 + 1e-6


@pytest.fixture(scope="module")
def english() -> Tagger:
    return Tagger.load("en_ewt", threads=1, precision="float32")


def test_a_tagger_shows_its_model_language_columns_device_and_precision(english):
    assert repr(english) == ("Tagger(model='en_ewt', language='en', columns=['upos', 'xpos', 'feats', 'lemma'], "
                             "device='cpu', precision='float32', tokenizer='learned')")
    assert str(english) == repr(english)
    path = SHIPPED_DIR / "en_ewt.safetensors"
    from_file = Tagger.load(path, threads=1, precision="int8", tokenizer="rules")
    assert repr(from_file).startswith(f"Tagger(model={str(path)!r}, language='en', ")
    assert repr(from_file).endswith(", device='cpu', precision='int8', tokenizer='rules')")


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["ok", None], "pipe(): the text at index 1: NoneType is not a string (or UTF-8 bytes) of text or a list of token lists"),
        (["ok", "fine", b"ab\xff"], "pipe(): the text at index 2: the bytes are not UTF-8 (byte 0xff at index 2)"),
        (["one", "two", "three", 42], "pipe(): the text at index 3: int is not a string"),  # past the first batch of 2
        ([[["Dogs", "bark"]], ["Dogs", "bark"]], "pipe(): the text at index 1: a list of strings is not one text"),
    ],
    ids=["none", "bad-bytes", "second-batch", "list-of-strings"],
)
def test_pipe_names_the_bad_text_by_its_index_in_the_input(english, texts, message):
    with pytest.raises(TaggerError) as error:
        list(english.pipe(texts, batch_size=2))
    assert str(error.value).startswith(message) and "tag()" not in str(error.value)


def test_a_bad_language_is_named_as_python_spells_it_and_as_the_cli_does():
    with pytest.raises(TaggerError) as error:
        Tagger.load("en_ewt", language="xx")
    assert str(error.value) == "language='xx' is not an ISO 639 language code (such as en, fr, tr or grc)"
    # on the command line, before any model is looked for
    result = tagger_cli("tag", "-m", "no_such_model", "--language", "xx", "Hello.")
    assert result.returncode == 2
    assert result.stderr == "tagger tag: error: --language 'xx' is not an ISO 639 language code (such as en, fr, tr or grc)\n"


# -- training ---------------------------------------------------------------------------------

TINY = [*TINY_MODEL, "threads=1", "trainer.enable_progress_bar=false",  # the bar's callback then left out
        "trainer.enable_model_summary=false", "data.test=null"]


@pytest.mark.slow
def test_tensorboard_logging_works(tmp_path):
    result = run([sys.executable, "-m", "tagger.cli", "train", "data=sample", "logger=tensorboard", "trainer.max_epochs=1",
                  *TINY, f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert list((tmp_path / "logs").glob("events.out.tfevents.*"))


# Imported first (no sitecustomize is installed otherwise): hides tensorboard the two ways Lightning looks for it,
# its distribution (importlib.metadata.version) and its module (find_spec / import).
HIDE_TENSORBOARD = """
import importlib.metadata, sys

HIDDEN = ("tensorboard", "tensorboardX")
for name in HIDDEN:
    sys.modules[name] = None
installed_version = importlib.metadata.version


def version(name):
    if name in HIDDEN:
        raise importlib.metadata.PackageNotFoundError(name)
    return installed_version(name)


importlib.metadata.version = version
"""


def test_a_missing_optional_package_says_how_to_install_it(tmp_path):
    (tmp_path / "shim").mkdir()
    (tmp_path / "shim" / "sitecustomize.py").write_text(HIDE_TENSORBOARD)
    env = {**ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "shim"), str(REPO), ENV.get("PYTHONPATH")]))}
    result = run([sys.executable, "-m", "tagger.cli", "train", "data=sample", "logger=tensorboard", "trainer.max_epochs=1",
                  *TINY, f"hydra.run.dir={tmp_path / 'run'}"], env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.splitlines()[-1] == ("tagger train: error: the configuration needs the package 'tensorboard', "
                                              "which is not installed: pip install 'tagger[tensorboard]'")
    assert not list((tmp_path / "run").rglob("*.ckpt"))  # refused before any training


@pytest.mark.slow
def test_a_short_run_from_any_directory_warms_up_logs_its_loss_and_prints_two_decimals(tmp_path):
    """One epoch of ~12 steps: the warm-up (300 steps) is capped at a tenth of the run, so the peak rate is reached."""
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "tagger.cli", "train", "data=sample", "trainer.max_epochs=1", "optimizer.lr=5e-3", *TINY,
         "trainer.log_every_n_steps=1", f"hydra.run.dir={run_dir}"],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = list(csv.DictReader((run_dir / "logs" / "metrics.csv").open()))
    rates = [float(row["lr-AdamW"]) for row in rows if row.get("lr-AdamW")]
    assert max(rates) == pytest.approx(5e-3, rel=0.05)
    assert any(row.get("train/loss_epoch") for row in rows)
    dev_line = next(line for line in (result.stdout + result.stderr).splitlines() if "dev scores:" in line)
    assert " UPOS " in dev_line and all(len(value.split(".")[1]) == 2 for value in dev_line.split()[-7::2])
    assert (run_dir / "model.safetensors").stat().st_mode & 0o777 == 0o644


def test_a_missing_corpus_names_the_data_root(tmp_path):
    result = tagger_cli("train", "data=en_ewt", "data_dir=nowhere/data", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert "corpus files are read from data_dir=nowhere/data" in result.stderr and "TAGGER_DATA_DIR" in result.stderr
    assert not (tmp_path / "run").exists()


def test_tokens_name_the_entity_tag_and_read_columns_the_model_does_not_predict_as_none():
    entity = TaggedToken(1, "Lula", {"misc:NER": "B-PER"})
    assert entity.ner == "B-PER" and entity.upos is None and entity.lemma is None and entity.deprel is None
    assert entity.to_dict()["ner"] == "B-PER" and "misc:NER" not in entity.to_dict()
    assert TaggedToken(1, "Dogs", {"upos": "NOUN"}).ner is None and "ner" not in TaggedToken(1, "Dogs", {"upos": "NOUN"}).to_dict()
