"""Publishing built models into a folder (wheels, cards, index.json) and `tagger download` from it: by name and by
language, from the folder, a URL serving a copy of it, or a package index; `tagger models --available`.

The models are the shipped English model's weights under other names, languages, cards and licences, built
into a build folder the way scripts/build_models.py leaves one (models/, wheels/, state/) and published by its
own publish step."""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from tagger import Tagger
from tagger.data.conllu_io import read_conllu
from tagger.inference import shipped
from tagger.model.model_file import FORM_TABLE, load_model, save_model
from tagger.packaging.card import render_card
from tagger.packaging.package import package_model

REPO = Path(__file__).resolve().parent.parent
EN_EWT = shipped.SHIPPED_DIR / "en_ewt.safetensors"
SAMPLE_DEV = REPO / "tagger" / "samples" / "en_sample_dev.conllu"
NC = "CC BY-NC-SA 4.0"
# name -> (language, training-data licence, test figures on gold tokens)
MODELS = {"demo_fr": ("fr", NC, {"UPOS": 91.23, "AllTags": 88.0, "Lemmas": 95.5}),
          "demo_de_a": ("de", "CC BY-SA 4.0", {"UPOS": 90.5}),
          "demo_de_b": ("de", "CC BY 4.0", {"UPOS": 89.75})}
SEGMENTER_DEV = {"Tokens": 99.24, "Sentences": 85.01, "Words": 99.0}


def _build_models_script():
    """scripts/build_models.py as a module (registered, as its dataclasses need)."""
    if "build_models" not in sys.modules:
        spec = importlib.util.spec_from_file_location("build_models", REPO / "scripts" / "build_models.py")
        sys.modules["build_models"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["build_models"]


def _built_model(build: Path, name: str) -> None:
    """What build_models.py leaves for one model: the float16 file without the table, with its card; the card
    as Markdown; the wheel; the state naming it."""
    language, licence, test = MODELS[name]
    with safe_open(str(EN_EWT), framework="pt") as handle:
        metadata = dict(handle.metadata())
    tensors = load_file(str(EN_EWT))
    tensors.pop(FORM_TABLE, None)
    data = build / "data" / name  # the corpus folder, with the licence a wheel (and a shipped model) carries
    data.mkdir(parents=True)
    (data / "LICENSE.txt").write_text(f"{licence}: the licence of {name}'s data\n")
    card = {"name": name, "language": language, "columns": ["upos", "xpos", "feats", "lemma"], "segmenter": True,
            "scores": {"test": {"gold": test, "raw": {"Tokens": 99.1, "Sentences": 80.5, "Words": 98.8}}},
            "data": {"title": f"Demo {name}", "source": f"https://example.org/{name}", "release": "v1", "licence": licence,
                     "directory": os.path.relpath(data, REPO)}}
    provenance = {**json.loads(metadata["provenance"]), "data": name, "language": language, "card": card, "train": None,
                  "segmenter_dev": SEGMENTER_DEV}
    model = build / "models" / f"{name}.safetensors"
    model.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(model), metadata={**metadata, "provenance": json.dumps(provenance)})
    model.with_suffix(".md").write_text(render_card(card), encoding="utf-8")
    wheel = package_model(model, build / "wheels", name).wheel
    (build / "state").mkdir(exist_ok=True)
    (build / "state" / f"{name}.json").write_text(json.dumps({"recipe": "r", "wheel": wheel.name}))


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("build")
    for name in MODELS:
        _built_model(folder, name)
    return folder


@pytest.fixture(scope="module")
def published(build, tmp_path_factory) -> Path:
    """The published folder after the publish step, which found an older demo_fr wheel and a file of someone else's."""
    folder = tmp_path_factory.mktemp("models")
    (folder / "tagger_model_demo_fr-0.0.1-py3-none-any.whl").write_bytes(b"an older version")
    (folder / "NOTES.txt").write_text("kept")
    sizes = _build_models_script().publish(list(MODELS), build, folder)
    assert sorted(sizes) == sorted(MODELS)
    return folder


def tagger_cli(*args: str, env: dict[str, str] | None = None, path: list[Path] = ()) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "TAGGER_MODELS_URL"}
    environment.update({"OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([*map(str, path), str(REPO)]), **(env or {})})
    return subprocess.run([sys.executable, "-m", "tagger.cli", *args], capture_output=True, text=True, env=environment,
                          cwd=REPO.parent, timeout=300)


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[str]:
    """`folder` over HTTP on localhost, from a thread: the URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()


# -- publishing -------------------------------------------------------------------------------------


def test_publish_copies_wheels_and_cards_and_indexes_them_from_the_cards_in_the_model_files(build, published):
    wheels = {name: f"tagger_model_{name}-0.1.0-py3-none-any.whl" for name in MODELS}
    assert sorted(path.name for path in published.iterdir()) == sorted(
        [*wheels.values(), *(f"{name}.md" for name in MODELS), "index.json", "NOTES.txt"])  # the older demo_fr gone
    for name in MODELS:
        assert (published / f"{name}.md").read_bytes() == (build / "models" / f"{name}.md").read_bytes()
        assert (published / wheels[name]).read_bytes() == (build / "wheels" / wheels[name]).read_bytes()
    index = json.loads((published / "index.json").read_text())
    assert [entry["name"] for entry in index["models"]] == ["demo_de_a", "demo_de_b", "demo_fr"]
    entry = index["models"][2]
    wheel = (published / wheels["demo_fr"]).read_bytes()
    assert entry == {
        "name": "demo_fr", "version": "0.1.0", "language": "fr", "columns": ["upos", "xpos", "feats", "lemma"],
        "segmenter": True, "data": {"title": "Demo demo_fr", "source": "https://example.org/demo_fr", "release": "v1", "licence": NC},
        "non_commercial": True, "test": {"gold": MODELS["demo_fr"][2], "raw": {"Tokens": 99.1, "Sentences": 80.5, "Words": 98.8}},
        "wheel": wheels["demo_fr"], "size": len(wheel), "sha256": hashlib.sha256(wheel).hexdigest(), "tagger": ">=0.1.0,<0.2.0",
        "segmenter_dev": SEGMENTER_DEV, "card": "demo_fr.md", "recipe": "r"}
    assert [entry["non_commercial"] for entry in index["models"]] == [False, False, True]
    # the recipe each was built with (the state's "r"): a build elsewhere, without build/, skips them
    assert _build_models_script().published_recipes(published) == {name: "r" for name in MODELS}


def test_publishing_a_model_the_package_ships_replaces_its_file_card_and_licence_there(build, tmp_path):
    shipped = tmp_path / "shipped_models"
    shipped.mkdir()
    (shipped / "demo_de_a.safetensors").write_bytes(b"the model shipped before")
    (shipped / "demo_de_a.md").write_text("its card")
    (shipped / "en_ewt.safetensors").write_bytes(b"another shipped model")
    sizes = _build_models_script().publish(["demo_de_a", "demo_de_b"], build, tmp_path / "models", shipped)
    assert sorted(path.name for path in shipped.iterdir()) == [
        "demo_de_a.LICENSE.txt", "demo_de_a.md", "demo_de_a.safetensors", "en_ewt.safetensors"]  # demo_de_b is not shipped
    assert (shipped / "demo_de_a.safetensors").read_bytes() == (build / "models" / "demo_de_a.safetensors").read_bytes()
    assert (shipped / "demo_de_a.md").read_bytes() == (build / "models" / "demo_de_a.md").read_bytes()
    assert (shipped / "demo_de_a.LICENSE.txt").read_text() == "CC BY-SA 4.0: the licence of demo_de_a's data\n"
    assert (shipped / "en_ewt.safetensors").read_bytes() == b"another shipped model"
    assert sizes["demo_de_a"][os.path.relpath(shipped / "demo_de_a.safetensors", REPO)] == (shipped / "demo_de_a.safetensors").stat().st_size
    assert len(sizes["demo_de_b"]) == 2  # its wheel and card, published only


def test_a_trainings_minutes_are_in_the_build_state_while_it_runs(tmp_path, monkeypatch):
    """A build killed outright (the machine taken away: no Ctrl-C, no `finally`) keeps the minutes its training ran."""
    build_models = _build_models_script()
    state_file = tmp_path / "state" / "demo.json"
    seen = []

    class Training:  # stands for `tagger train`: three intervals pass, then it ends
        def __init__(self, command, cwd):
            self.command = command

        def wait(self, timeout=None):
            seen.append(json.loads(state_file.read_text()).get("train_minutes"))
            if len(seen) <= 3:
                time.sleep(timeout)
                raise subprocess.TimeoutExpired(self.command, timeout)
            return 0

    monkeypatch.setattr(build_models, "MINUTES_SAVED_EVERY", 0.3)
    monkeypatch.setattr(build_models.subprocess, "Popen", Training)
    args = argparse.Namespace(threads=1, overrides=[], data_dir=tmp_path)
    state = {"recipe": "r", "train_minutes": 1.0}  # an earlier, stopped command's minutes
    build_models.train(build_models.Corpus("demo", tmp_path, ner=False), tmp_path / "run", args, state, state_file)
    assert seen[0] == 1.0  # saved with the command, before it ran
    seconds = [60 * (minutes - 1.0) for minutes in seen[1:]]  # the earlier minutes, and after each interval the run's
    assert len(seconds) == 3 and all(0.3 * k <= ran < 0.3 * k + 0.3 for k, ran in enumerate(seconds, 1)), seconds
    assert json.loads(state_file.read_text())["train_minutes"] > seen[-1]  # and once more when it ends


def test_publish_only_needs_the_build_state_and_trains_nothing(build, tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "build_models.py"), "--publish-only", "--only", "demo_de_b",
                           "--output-dir", str(build), "--publish-dir", str(tmp_path / "models"), "--data-dir", str(tmp_path / "none")],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    wheel = "tagger_model_demo_de_b-0.1.0-py3-none-any.whl"
    assert json.loads(done.stdout) == {"demo_de_b": {wheel: (build / "wheels" / wheel).stat().st_size,
                                                     "demo_de_b.md": (build / "models" / "demo_de_b.md").stat().st_size}}
    assert sorted(path.name for path in (tmp_path / "models").iterdir()) == ["demo_de_b.md", "index.json", wheel]


def test_a_published_file_leaves_the_stored_table_out_and_tags_the_same(tmp_path):
    """The table is [vocabulary, CLE dim] float16: the file shrinks by exactly that much (and the header's entry)."""
    bundle = load_model(EN_EWT)
    import torch

    full, lean = (save_model(tmp_path / f"{name}.safetensors", bundle.network, bundle.vocabs, bundle.provenance,
                             weights_dtype=torch.float16, segmenter=bundle.segmenter, form_table=table)
                  for name, table in (("full", True), ("lean", False)))
    with safe_open(str(full), framework="pt") as stored, safe_open(str(lean), framework="pt") as left_out:
        assert FORM_TABLE in stored.keys() and FORM_TABLE not in left_out.keys()
    table_bytes = len(bundle.vocabs.words) * bundle.network.cle.output_dim * 2
    assert 0 <= full.stat().st_size - lean.stat().st_size - table_bytes < 200
    words = [sentence.forms for sentence in read_conllu(SAMPLE_DEV)]

    def tags(path: Path) -> list:
        return [[tuple(token.tags.values()) for token in sentence] for sentence in Tagger.load(path, precision="float32").tag(words)]
    assert tags(lean) == tags(full)


# -- downloading ------------------------------------------------------------------------------------


def test_download_by_name_from_a_folder_into_a_target_says_what_and_the_licence(build, published, tmp_path):
    target = tmp_path / "target"
    done = tagger_cli("download", "demo_fr", "--from", str(published), "--target", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"installed tagger-model-demo_fr 0.1.0 into {target} from {published}: demo_fr, language fr: "
        "tags (upos,xpos,feats), lemmas, segmenter",
        f"training data: Demo demo_fr, licensed {NC}: NON-COMMERCIAL, this model may not be used for commercial purposes",
        f"use it (with {target} on PYTHONPATH): tagger tag --model demo_fr TEXT, or Tagger.load(\"demo_fr\")"]
    installed = target / "tagger_model_demo_fr" / "model.safetensors"
    assert installed.read_bytes() == (build / "models" / "demo_fr.safetensors").read_bytes()
    # installed, French is there: --language fr picks it, and tags without a warning
    tagged = tagger_cli("tag", "--language", "fr", "-f", "tsv", "--no-header", "Le chat dort.", path=[target])
    assert tagged.returncode == 0 and tagged.stderr == "", tagged.stderr
    assert [line.split("\t")[1] for line in tagged.stdout.splitlines() if line] == ["Le", "chat", "dort", "."]


def test_download_by_language_from_the_setting_and_several_or_none_in_one_line(published, tmp_path):
    setting = {"TAGGER_MODELS_URL": str(published)}
    done = tagger_cli("download", "fr", "--target", str(tmp_path / "fr"), env=setting)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("installed tagger-model-demo_fr 0.1.0 into ")
    assert (tmp_path / "fr" / "tagger_model_demo_fr" / "model.safetensors").is_file()
    size_a, size_b = ((published / f"tagger_model_demo_de_{x}-0.1.0-py3-none-any.whl").stat().st_size / 1e6 for x in "ab")
    several = tagger_cli("download", "de", "--target", str(tmp_path / "de"), env=setting)
    assert several.returncode == 2 and several.stdout == ""
    assert several.stderr == (f"tagger download: error: de: 2 models for language 'de': demo_de_a ({size_a:.1f} MB, data licence "
                              f"CC BY-SA 4.0); demo_de_b ({size_b:.1f} MB, data licence CC BY 4.0); download one by name\n")
    assert not (tmp_path / "de").exists()
    none = tagger_cli("download", "xx_none", "--target", str(tmp_path / "none"), env=setting)
    assert none.returncode == 2 and none.stderr == (
        f"tagger download: error: xx_none: no published model of this name or language in {published} "
        "(there: demo_de_a, demo_de_b, demo_fr)\n")


def test_download_without_target_reports_the_package_this_python_now_imports(published, tmp_path):
    """Into "this Python's environment": pip is pointed elsewhere by its own setting (PIP_TARGET) on this
    interpreter's path, so the test leaves the real environment alone."""
    site = tmp_path / "site"
    site.mkdir()
    done = tagger_cli("download", "demo_de_a", "--from", str(published), env={"PIP_TARGET": str(site)}, path=[site])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == (f"installed tagger-model-demo_de_a 0.1.0 from {published}: demo_de_a, language de: "
                                           "tags (upos,xpos,feats), lemmas, segmenter")
    assert (site / "tagger_model_demo_de_a" / "meta.json").is_file()


def test_download_from_a_url_checks_the_wheel_against_the_index(published, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(published, copy)
    with serving(copy) as url:
        done = tagger_cli("download", "demo_de_a", "--from", url, "--target", str(tmp_path / "a"))
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "a" / "tagger_model_demo_de_a" / "model.safetensors").is_file()
        index = json.loads((copy / "index.json").read_text())
        index["models"][1]["sha256"] = "0" * 64  # demo_de_b: the wheel is no longer the one the index names
        (copy / "index.json").write_text(json.dumps(index))
        damaged = tagger_cli("download", "demo_de_b", "--from", url, "--target", str(tmp_path / "b"))
    assert damaged.returncode == 2 and len(damaged.stderr.splitlines()) == 1
    assert damaged.stderr.startswith(f"tagger download: error: {url}/tagger_model_demo_de_b-0.1.0-py3-none-any.whl: sha256 ")
    assert damaged.stderr.endswith(f" is not the index's {'0' * 64} (a damaged or replaced file); nothing installed\n")
    assert not (tmp_path / "b").exists()


def test_download_from_a_package_index_by_name(build, tmp_path):
    """A PEP 503 index (build_models.py writes one beside its wheels) has no index.json: names only."""
    _build_models_script().write_simple_index(build / "wheels", build / "simple")
    with serving(build) as url:
        done = tagger_cli("download", "demo_de_b", "--from", f"{url}/simple/", "--target", str(tmp_path / "b"))
        by_language = tagger_cli("download", "de", "--from", f"{url}/simple/", "--target", str(tmp_path / "de"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == "training data: Demo demo_de_b, licensed CC BY 4.0"
    assert (tmp_path / "b" / "tagger_model_demo_de_b" / "model.safetensors").is_file()
    assert by_language.returncode == 2 and by_language.stderr == (
        f"tagger download: error: {url}/simple/ serves no index.json (a package index, which names no languages): "
        "give a model name, such as de_<corpus>\n")


def test_download_with_no_folder_url_or_clone_says_so_in_one_line(tmp_path):
    """tagger run from no clone with models/ (its repository root pointed elsewhere), no --from, no setting."""
    script = ("import sys, pathlib; import tagger.packaging.download as d; d.REPOSITORY = pathlib.Path(sys.argv[1]); "
              "from tagger.cli import main; sys.exit(main(['download', 'fr']))")
    environment = {key: value for key, value in os.environ.items() if key != "TAGGER_MODELS_URL"}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                          env={**environment, "PYTHONPATH": str(REPO)}, timeout=300)
    assert done.returncode == 2 and done.stderr == (
        "tagger download: error: no published models to download from: give --from DIR_OR_URL or set TAGGER_MODELS_URL "
        "(a copy of the repository's models/ folder, or a package index); tagger runs from no clone with a models/index.json\n")


def test_models_available_lists_size_licence_and_test_figures(published):
    done = tagger_cli("models", "--available", "--from", str(published))
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split()[:6] == ["name", "language", "columns", "version", "size", "data"]
    assert [row.split()[0] for row in rows] == ["demo_de_a", "demo_de_b", "demo_fr"]
    size = (published / "tagger_model_demo_fr-0.1.0-py3-none-any.whl").stat().st_size / 1e6
    fr = rows[2]
    for cell in ("fr", "tags (upos,xpos,feats), lemmas, segmenter (dev Tokens 99.2 Sentences 85.0)", f"{size:.1f} MB",
                 f"{NC} (non-commercial)", "UPOS 91.23  AllTags 88.00  Lemmas 95.50"):
        assert f"  {cell}  " in fr, (cell, fr)
    assert fr.endswith("  -")  # not installed here
    assert done.stderr == f"from {published}; `tagger download NAME|LANGUAGE` installs one\n"


def test_the_wheel_holds_the_lean_model_file(published):
    with zipfile.ZipFile(published / "tagger_model_demo_fr-0.1.0-py3-none-any.whl") as archive, \
            archive.open("tagger_model_demo_fr/model.safetensors") as stream:
        (length,) = __import__("struct").unpack("<Q", stream.read(8))
        assert FORM_TABLE not in json.loads(stream.read(length))
