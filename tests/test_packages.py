"""Model packages: `tagger package` builds a standard wheel; installed packages, shipped models and
language codes are found by name; broken entry points are skipped; `tagger models` lists them."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tagger import Tagger
from tagger.cli import main
from tagger.errors import ModelFileError
from tagger.inference import packages, shipped
from tagger.inference.shipped import resolve_model

REPO = Path(__file__).resolve().parent.parent
WHEEL = "tagger_model_tiny_en-0.1.0-py3-none-any.whl"
EN_EWT = shipped.SHIPPED_DIR / "en_ewt.safetensors"  # the real shipped model: an English model file to link to
COLUMNS = ["upos", "xpos", "feats", "lemma"]  # what the tiny model (conftest: data=sample) tags


def fake_package(site: Path, name: str, language: str = "en", requires: str = ">=0.1.0,<0.2.0") -> Path:
    """An installed model package as pip leaves it: a .dist-info with the entry point, the package folder."""
    module = site / f"tagger_model_{name}"
    module.mkdir(parents=True)
    (module / "__init__.py").write_text("")
    (module / "model.safetensors").write_bytes(b"not read when resolving a name")
    (module / "meta.json").write_text(json.dumps({"name": name, "version": "1.2.0", "language": language,
                                                  "columns": ["misc:NER"], "tagger": requires, "scores": {"NER-F1": 71.4}}))
    dist_info = site / f"tagger_model_{name}-1.2.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: tagger-model-{name}\nVersion: 1.2.0\n")
    (dist_info / "entry_points.txt").write_text(f"[tagger.models]\n{name} = tagger_model_{name}\n")
    return module / "model.safetensors"


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """An empty folder on sys.path for installed packages, and no shipped models unless a test adds some."""
    directory = tmp_path / "site"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path / "shipped")
    (tmp_path / "shipped").mkdir()
    return directory


# -- finding models by name, without installing anything ---------------------------------------------


def test_an_installed_package_is_found_by_name_and_by_its_language(site):
    model = fake_package(site, "ner_da", language="da")
    assert resolve_model("ner_da") == model
    assert resolve_model("da") == model


def test_an_installed_package_shadows_a_shipped_model_of_the_same_name(site):
    (shipped.SHIPPED_DIR / "same.safetensors").symlink_to(EN_EWT)
    assert resolve_model("same") == shipped.SHIPPED_DIR / "same.safetensors"
    assert resolve_model("same") != (model := fake_package(site, "same"))
    packages.importlib.invalidate_caches()
    assert resolve_model("same") == model


def test_several_models_of_a_language_are_listed_in_one_line(site):
    (shipped.SHIPPED_DIR / "en_small.safetensors").symlink_to(EN_EWT)
    fake_package(site, "wnut")
    with pytest.raises(ModelFileError) as error:
        resolve_model("en")
    assert str(error.value) == "en: 2 models for language 'en': wnut (installed, en), en_small (shipped, en); load one by name"


def test_an_unknown_name_lists_installed_and_shipped_models_in_one_line(site):
    (shipped.SHIPPED_DIR / "en_small.safetensors").symlink_to(EN_EWT)
    fake_package(site, "ner_da", language="da")
    with pytest.raises(ModelFileError) as error:
        Tagger.load("xx_nothing")
    assert str(error.value) == ("xx_nothing: no such model file, nor the name of an installed or shipped model "
                                "(installed: ner_da; shipped: en_small; `tagger models --available` lists those "
                                "`tagger download` installs)")
    with pytest.raises(ModelFileError) as error:
        Tagger.load("fr")
    assert str(error.value) == ("fr: no model for language 'fr' is installed; `tagger download fr` installs one "
                                "(installed: ner_da; shipped: en_small)")


def test_a_package_for_another_tagger_version_is_one_line(site):
    fake_package(site, "future", requires=">=9.0.0,<9.1.0")
    with pytest.raises(ModelFileError, match=r"^future: the installed model package needs tagger >=9.0.0,<9.1.0, but this is tagger 0\.1\.0"):
        resolve_model("future")


def test_broken_and_foreign_entry_points_are_skipped_with_a_warning(site, caplog):
    dist_info = site / "other-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: other\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[tagger.models]\nbroken = no_such_module_anywhere\nforeign = json\n")
    (site / "tagger_model_empty").mkdir()
    (dist_info / "entry_points.txt").write_text(dist_info.joinpath("entry_points.txt").read_text() + "empty = tagger_model_empty\n")
    model = fake_package(site, "good")
    assert {name: info.path for name, info in packages.installed_models().items()} == {"good": model}
    warned = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warned) == 3
    assert all("skipping the tagger.models entry point" in line and "of other" in line for line in warned)


def test_the_shipped_english_model_is_the_one_for_en_when_no_other_is_installed():
    assert resolve_model("en") == shipped.SHIPPED_DIR / "en_ewt.safetensors"


def test_tagger_models_with_nothing_installed_lists_the_shipped_model(capsys):
    assert main(["models"]) == 0
    out, err = capsys.readouterr()
    assert "no model packages installed" in err and "`tagger download NAME|LANGUAGE` installs" in err
    header, row = out.splitlines()
    assert header.split()[:4] == ["name", "language", "columns", "version"]
    # en_ewt's card: test UPOS 95.73, AllTags 93.75, Lemmas 97.09 (tagger/shipped_models/en_ewt.md)
    assert row.startswith("en_ewt") and "UPOS 95.73  AllTags 93.75  Lemmas 97.09" in row
    assert "tags (upos,xpos,feats), lemmas, segmenter" in row and "shipped: " in row


def test_tagger_models_through_one_pipe_keeps_the_table_whole_and_the_note_below_it():
    """`tagger models 2>&1 | cat`: stdout and stderr share the pipe; the table comes first, the note on its own line."""
    done = subprocess.run([sys.executable, "-m", "tagger.cli", "models"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    header, row, note = done.stdout.splitlines()
    assert header.startswith("name  ") and header.endswith("  where")
    assert row.startswith("en_ewt  ") and row.endswith("en_ewt.safetensors")
    assert note.startswith("note: no model packages installed;")


def test_version_verbose_lists_the_installed_models_beside_the_shipped_ones(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    fake_package(site, "ner_da", language="da")
    done = subprocess.run([sys.executable, "-m", "tagger.cli", "--version", "-v"], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "installed models: ner_da 1.2.0 (da)" in lines
    assert any(line.startswith("shipped models: en_ewt 0.1.0 (en) in ") for line in lines)


# -- building and installing a wheel ----------------------------------------------------------------


def _record_is_right(wheel: Path) -> bool:
    with zipfile.ZipFile(wheel) as archive:
        record = next(name for name in archive.namelist() if name.endswith(".dist-info/RECORD"))
        lines = [line.split(",") for line in archive.read(record).decode().splitlines()]
        for path, digest, size in lines:
            if path == record:
                continue
            data = archive.read(path)
            expected = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            if digest != expected or int(size) != len(data):
                return False
        return sorted(line[0] for line in lines) == sorted(archive.namelist())


@pytest.fixture(scope="module")
def wheel(tiny_model, tmp_path_factory) -> Path:
    from tagger.packaging.package import package_model

    output = tmp_path_factory.mktemp("wheels")
    return package_model(tiny_model, output, name="tiny_en", licence="CC BY-NC-SA 4.0").wheel


@pytest.mark.slow
def test_the_wheel_is_a_standard_one_requiring_only_tagger(wheel, tiny_model):
    assert wheel.name == WHEEL
    assert _record_is_right(wheel)
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read("tagger_model_tiny_en-0.1.0.dist-info/METADATA").decode()
        assert archive.read("tagger_model_tiny_en/model.safetensors") == tiny_model.read_bytes()
        entry_points = archive.read("tagger_model_tiny_en-0.1.0.dist-info/entry_points.txt").decode()
    assert "Name: tagger-model-tiny_en\nVersion: 0.1.0\n" in metadata
    assert "License: CC BY-NC-SA 4.0\n" in metadata
    assert [line for line in metadata.splitlines() if line.startswith("Requires-Dist")] == ["Requires-Dist: tagger>=0.1.0,<0.2.0"]
    assert entry_points == "[tagger.models]\ntiny_en = tagger_model_tiny_en\n\n"


@pytest.mark.slow
def test_an_installed_wheel_loads_by_name_and_by_language_from_another_directory(wheel, tmp_path, monkeypatch):
    target = tmp_path / "target"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target),
                    str(wheel)], check=True)
    monkeypatch.syspath_prepend(str(target))
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path)  # no shipped English model: "en" is the installed one
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    installed = target / "tagger_model_tiny_en" / "model.safetensors"
    assert resolve_model("tiny_en") == installed and resolve_model("en") == installed
    assert Tagger.load("tiny_en").columns == COLUMNS
    assert Tagger.load("en").tag("The cat sat.")[0].tokens[1].form == "cat"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(REPO)])}
    tagged = subprocess.run([sys.executable, "-m", "tagger.cli", "tag", "--model", "tiny_en", "-f", "tsv", "The cat sat."],
                            capture_output=True, text=True, env=env, cwd=elsewhere)
    assert tagged.returncode == 0, tagged.stderr
    assert [line.split("\t")[1] for line in tagged.stdout.splitlines() if line and not line.startswith("#")] == ["The", "cat", "sat", "."]


@pytest.mark.slow
def test_package_says_when_the_data_is_non_commercial_and_refuses_a_bad_name_in_one_line(tiny_model, tmp_path, capsys):
    assert main(["package", str(tiny_model), str(tmp_path), "--name", "tiny_nc", "--license", "CC BY-NC-SA 4.0"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(tmp_path / "tagger_model_tiny_nc-0.1.0-py3-none-any.whl")
    assert "licensed CC BY-NC-SA 4.0: non-commercial use only" in err
    assert main(["package", str(tiny_model), str(tmp_path), "--name", "Tiny-EN"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "tagger package: error: --name 'Tiny-EN': a model name is lower-case letters, digits and underscores, starting with a letter"]


@pytest.mark.slow
def test_find_links_install_in_a_fresh_venv_tags_from_another_directory(wheel, tmp_path):
    """docs/models.md's second route: pip resolves `tagger` to the one installed beside it and fetches nothing."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    if subprocess.run([str(python), "-c", "import torch, pip, tagger"], capture_output=True).returncode:
        pytest.skip("this interpreter's packages are not visible from a venv made with --system-site-packages")
    installed = subprocess.run([str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheel.parent),
                                "tagger-model-tiny_en"], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    assert "Successfully installed tagger-model-tiny_en-0.1.0\n" in installed.stdout  # and nothing else
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    tagged = subprocess.run([str(python), "-m", "tagger.cli", "tag", "--model", "tiny_en", "-f", "tsv", "The cat sat."],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert tagged.returncode == 0, tagged.stderr
    assert [line.split("\t")[1] for line in tagged.stdout.splitlines() if line and not line.startswith("#")] == ["The", "cat", "sat", "."]


# -- packaging a training run of one's own ----------------------------------------------------------

PROVENANCE = """# UD English-EWT, a sample: provenance

- Source: https://github.com/UniversalDependencies/UD_English-EWT
- Release: UD v2.16
- Licence: CC BY-SA 4.0 (`LICENSE.txt`, copied from the release)
"""


@pytest.fixture(scope="module")
def own_run(tmp_path_factory) -> Path:
    """A run trained on a data folder as ../shared/data keeps one (PROVENANCE.md, LICENSE.txt), XPOS left `_`
    throughout (as in tr_atis), with a test file: its scores.json has test figures."""
    from hydra import compose, initialize_config_module

    from conftest import SAMPLE_DEV, SAMPLE_TRAIN, TINY_MODEL
    from tagger.training.train import train

    data = tmp_path_factory.mktemp("corpus")
    for source, name in ((SAMPLE_TRAIN, "train.conllu"), (SAMPLE_DEV, "dev.conllu")):
        lines = [line.split("\t") for line in source.read_text(encoding="utf-8").splitlines()]
        (data / name).write_text("".join("\t".join(cells[:4] + ["_"] + cells[5:]) + "\n" if len(cells) == 10
                                         else "\t".join(cells) + "\n" for cells in lines), encoding="utf-8")
    (data / "PROVENANCE.md").write_text(PROVENANCE)
    (data / "LICENSE.txt").write_text("Attribution-ShareAlike 4.0 International (the licence text)\n")
    run_dir = tmp_path_factory.mktemp("own_run")
    with initialize_config_module("tagger.conf", version_base="1.3"):
        cfg = compose("train", overrides=["data=sample", f"data.train={data / 'train.conllu'}", f"data.dev={data / 'dev.conllu'}",
                                          f"data.test={data / 'dev.conllu'}", f"run_dir={run_dir}", "threads=1",
                                          "trainer.enable_progress_bar=false", "~callbacks.progress_bar",
                                          "trainer.enable_model_summary=false", "schedule.warmup_steps=10", *TINY_MODEL,
                                          "trainer.max_epochs=2"])
    train(cfg)
    return run_dir


def test_packaging_a_run_takes_its_scores_its_data_licence_and_only_the_columns_it_learned(own_run, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    built = subprocess.run([sys.executable, "-m", "tagger.cli", "package", str(own_run / "model.safetensors"), str(tmp_path),
                            "--name", "own"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert built.returncode == 0, built.stderr
    assert "records no training-data licence" not in built.stderr
    wheel = tmp_path / "tagger_model_own-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        meta = json.loads(archive.read("tagger_model_own/meta.json"))
        licence = archive.read("tagger_model_own-0.1.0.dist-info/LICENSE").decode()
        metadata = archive.read("tagger_model_own-0.1.0.dist-info/METADATA").decode()
    test = json.loads((own_run / "scores.json").read_text())["test"]
    assert meta["columns"] == ["upos", "feats", "lemma"]  # the xpos head only ever saw `_`
    assert meta["scores"] == test and meta["licence"] == "CC BY-SA 4.0" and "License: CC BY-SA 4.0\n" in metadata
    assert meta["training_data"] == {"title": "UD English-EWT, a sample", "source": "https://github.com/UniversalDependencies/UD_English-EWT",
                                     "release": "UD v2.16", "licence": "CC BY-SA 4.0"}
    assert licence.endswith("Attribution-ShareAlike 4.0 International (the licence text)\n")
    target = tmp_path / "target"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target),
                    str(wheel)], check=True)
    listed = subprocess.run([sys.executable, "-m", "tagger.cli", "models"], capture_output=True, text=True, timeout=300,
                            env={**env, "PYTHONPATH": os.pathsep.join([str(target), str(REPO)])})
    row = next(line for line in listed.stdout.splitlines() if line.startswith("own "))
    assert "  tags (upos,feats), lemmas  " in row
    assert f"  UPOS {test['UPOS']:.2f}  AllTags {test['AllTags']:.2f}  Lemmas {test['Lemmas']:.2f}  " in row
