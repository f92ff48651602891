"""`tagger download NAME|LANGUAGE`: install one published model through pip.

Where from: `--from DIR_OR_URL`, else the `TAGGER_MODELS_URL` setting, else the repository's
`models/` folder when tagger runs from a clone. A folder, or a URL serving a copy of one, has
`index.json` (`tagger.packaging.index`): the model is found there by name or language, its wheel
(fetched first from a URL) checked against the index's sha256 and installed from the local file
with `pip install --no-index`. A URL without `index.json` is taken for a package index (PEP 503):
pip installs `tagger-model-NAME` from it, by name only. Either way `--no-deps`: the one
requirement, tagger, is the one running, and its version is checked against the index first.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tagger.errors import TaggerError
from tagger.inference.packages import META_FILE
from tagger.packaging.index import INDEX_FILE, TIMEOUT_S, PublishedModels, is_url, read_index, sha256

MODELS_URL_ENV = "TAGGER_MODELS_URL"
REPOSITORY = Path(__file__).resolve().parents[2]  # the clone's root, where tagger runs from one


def clone_models() -> Path | None:
    """The repository's models/ folder, where tagger runs from a clone that has published models."""
    folder = REPOSITORY / "models"
    return folder if (REPOSITORY / "pyproject.toml").is_file() and (folder / INDEX_FILE).is_file() else None


def models_source(given: str | None) -> str:
    """--from, else TAGGER_MODELS_URL, else the clone's models/ folder; one line where there is none."""
    clone = clone_models()
    source = given or os.environ.get(MODELS_URL_ENV) or (str(clone) if clone else None)
    if not source:
        raise TaggerError(f"no published models to download from: give --from DIR_OR_URL or set {MODELS_URL_ENV} "
                          "(a copy of the repository's models/ folder, or a package index); tagger runs from no clone "
                          "with a models/index.json")
    return source


@dataclass
class Installed:
    """What `tagger download` installed: the package's meta.json, where it went, where it came from."""

    meta: dict
    source: str
    target: Path | None

    @property
    def name(self) -> str:
        return self.meta["name"]


def download(name_or_language: str, source: str, target: str | Path | None = None) -> Installed:
    """Install the one published model of this name or language from `source` (into `target`, pip's --target)."""
    index = read_index(source)
    target = Path(target) if target else None
    if index is None:  # a package index: pip finds the package by name
        from tagger.inference.languages import is_language_code

        if is_language_code(name_or_language):
            raise TaggerError(f"{source} serves no {INDEX_FILE} (a package index, which names no languages): "
                              f"give a model name, such as {name_or_language}_<corpus>")
        _pip_install(["--index-url", source, f"tagger-model-{name_or_language}"], target)
        return Installed(_installed_meta(name_or_language, target), source, target)
    entry = choose(index, name_or_language)
    _check_tagger_version(entry)
    with tempfile.TemporaryDirectory(prefix="tagger-download-") as scratch:
        wheel = _local_wheel(index, entry, Path(scratch))
        _pip_install(["--no-index", str(wheel)], target)
    return Installed(_installed_meta(entry["name"], target), source, target)


def choose(index: PublishedModels, name_or_language: str) -> dict:
    """The model of this name, or the one model of this language; one line naming the choices otherwise."""
    found = index.find(name_or_language)
    if len(found) == 1:
        return found[0]
    if found:
        listed = "; ".join(f"{entry['name']} ({megabytes(entry['size'])}, data licence {entry['data']['licence']})" for entry in found)
        raise TaggerError(f"{name_or_language}: {len(found)} models for language {name_or_language!r}: {listed}; "
                          "download one by name")
    names = ", ".join(sorted({entry["name"] for entry in index.models})) or "none"
    raise TaggerError(f"{name_or_language}: no published model of this name or language in {index.source} (there: {names})")


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _check_tagger_version(entry: dict) -> None:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    from tagger import __version__

    if not entry.get("tagger"):
        return
    try:
        fits = SpecifierSet(entry["tagger"]).contains(__version__, prereleases=True)
    except InvalidSpecifier:
        fits = False
    if not fits:
        raise TaggerError(f"{entry['name']} {entry['version']} needs tagger {entry['tagger']}, but this is tagger "
                          f"{__version__}; nothing installed")


def _local_wheel(index: PublishedModels, entry: dict, scratch: Path) -> Path:
    """The wheel as a local file whose sha256 is the index's: the folder's own, or one fetched from the URL."""
    location = index.wheel_location(entry)
    if is_url(location):
        wheel = scratch / entry["wheel"]
        try:
            with urllib.request.urlopen(location, timeout=TIMEOUT_S) as response, wheel.open("wb") as stream:
                shutil.copyfileobj(response, stream)
        except (urllib.error.URLError, OSError) as error:
            raise TaggerError(f"{location}: cannot be fetched ({getattr(error, 'reason', error)})") from None
    else:
        wheel = Path(location)
        if not wheel.is_file():
            raise TaggerError(f"{location}: the wheel the index names is not there")
    if (found := sha256(wheel)) != entry["sha256"]:
        raise TaggerError(f"{location}: sha256 {found} is not the index's {entry['sha256']} (a damaged or replaced "
                          "file); nothing installed")
    return wheel


def _pip_install(arguments: list[str], target: Path | None) -> None:
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--upgrade", "--quiet", "--disable-pip-version-check",
               *(["--target", str(target)] if target else []), *arguments]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        raise TaggerError(f"pip install failed (exit {done.returncode}): {lines[-1] if lines else 'no message'}")


def _installed_meta(name: str, target: Path | None) -> dict:
    """meta.json of the package just installed, in `target` or wherever this interpreter imports it from."""
    module = f"tagger_model_{name}"
    if target is not None:
        folder = target / module
    else:
        importlib.invalidate_caches()
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise TaggerError(f"pip installed tagger-model-{name}, but this Python does not find {module}")
        folder = Path(next(iter(spec.submodule_search_locations)))
    try:
        return json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TaggerError(f"tagger-model-{name} was installed, but its meta.json is unreadable ({error})") from None
