"""Models found by name: installed model packages (`tagger package` builds them) and shipped models.

A model package declares a `tagger.models` entry point, `NAME = MODULE`; MODULE is a package
directory holding `model.safetensors`, its card (`README.md`) and `meta.json` (language, columns,
required tagger version, test scores). Entry points are read with importlib.metadata and the
directory found with `importlib.util.find_spec`, so no package code runs and torch is not
imported: resolving a name costs milliseconds. An installed package shadows a shipped model of
the same name.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tagger.errors import ModelFileError
from tagger.inference import shipped

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "tagger.models"
MODEL_FILE = "model.safetensors"
META_FILE = "meta.json"
CARD_FILE = "README.md"
LISTED_SCORES = ("UPOS", "AllTags", "Lemmas", "NER-F1")  # the test figures `tagger models` shows
# Where a model's provenance keeps its learned segmenter's dev figures ({"Tokens": 99.2, "Sentences": 88.1, ...})
SEGMENTER_DEV = "segmenter_dev"
SEGMENTER_LISTED = ("Tokens", "Sentences")  # of those, what `tagger models` shows


@dataclass(frozen=True)
class ModelInfo:
    """What `tagger models` shows of one model, and where its file is."""

    name: str
    path: Path
    kind: str  # "installed" or "shipped"
    language: str | None
    columns: list[str]
    segmenter: bool
    version: str
    scores: dict[str, float] = field(default_factory=dict)  # test, gold tokens, from the card
    requires: str | None = None  # the tagger versions an installed package declares it needs
    segmenter_dev: dict[str, float] = field(default_factory=dict)  # the learned segmenter's dev figures, if recorded

    def describe(self) -> str:
        return f"{self.name} ({self.kind}, {self.language or 'no language'})"


def header_metadata(path: Path) -> dict[str, str]:
    """The JSON metadata of a safetensors file (8-byte length, then the header), read without torch."""
    try:
        with path.open("rb") as stream:
            return stream_metadata(stream, str(path))
    except OSError as error:
        raise ModelFileError(f"{path}: not a tagger model file, or a truncated or corrupt one ({error})") from None


def stream_metadata(stream: BinaryIO, source: str) -> dict[str, str]:
    """`header_metadata` of a file being read (one inside a wheel, say): only its header is read."""
    try:
        (length,) = struct.unpack("<Q", stream.read(8))
        header = json.loads(stream.read(length))
        return dict(header.get("__metadata__") or {})
    except (OSError, struct.error, ValueError, AttributeError, MemoryError, OverflowError) as error:
        raise ModelFileError(f"{source}: not a tagger model file, or a truncated or corrupt one ({error})") from None


def learned_columns(metadata: dict[str, str]) -> list[str]:
    """What a model file predicts (`Vocabularies.learned_columns`), from its header metadata."""
    from tagger.data.vocab import Vocabularies

    if "vocabs" not in metadata:
        return json.loads(metadata.get("columns", "[]"))
    return Vocabularies.from_dict(json.loads(metadata["vocabs"])).learned_columns


def segmenter_dev(provenance: dict) -> dict[str, float]:
    return {key: float(value) for key, value in (provenance.get(SEGMENTER_DEV) or {}).items() if key in SEGMENTER_LISTED}


def installed_models() -> dict[str, ModelInfo]:
    """Every installed model package by name; a broken or foreign entry point is skipped with a warning."""
    from importlib.metadata import entry_points

    found: dict[str, ModelInfo] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            info = _package_info(point.name, point.value)
        except (ImportError, ValueError, OSError, KeyError, TypeError, ModelFileError) as error:
            distribution = getattr(point.dist, "name", None) or "an unknown distribution"
            log.warning("skipping the %s entry point %s = %s of %s: %s",
                        ENTRY_POINT_GROUP, point.name, point.value, distribution, error)
            continue
        found.setdefault(info.name, info)
    return found


def _package_info(name: str, module: str) -> ModelInfo:
    spec = importlib.util.find_spec(module.split(":")[0].strip())
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"no package {module!r} is installed")
    directory = Path(next(iter(spec.submodule_search_locations)))
    if not (directory / META_FILE).is_file() or not (directory / MODEL_FILE).is_file():
        raise ValueError(f"{directory} holds no tagger model ({META_FILE} and {MODEL_FILE})")
    meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    return ModelInfo(name, directory / MODEL_FILE, "installed", meta.get("language"), list(meta["columns"]),
                     bool(meta.get("segmenter")), str(meta["version"]), _listed(meta.get("scores") or {}),
                     meta.get("tagger"), segmenter_dev(meta))


def shipped_infos() -> dict[str, ModelInfo]:
    """The models inside the package, described from their file's header and their card."""
    from tagger import __version__

    infos = {}
    for name in shipped.shipped_models():
        path = shipped.SHIPPED_DIR / f"{name}.safetensors"
        metadata = header_metadata(path)
        provenance = json.loads(metadata.get("provenance", "{}"))
        scores = provenance.get("card", {}).get("scores", {}).get("test", {}).get("gold")
        infos[name] = ModelInfo(name, path, "shipped", provenance.get("language"), learned_columns(metadata),
                                "segmenter" in metadata, __version__, _listed(scores or {}), None, segmenter_dev(provenance))
    return infos


def _listed(scores: dict) -> dict[str, float]:
    return {key: float(scores[key]) for key in LISTED_SCORES if key in scores}


def all_models() -> list[ModelInfo]:
    """Installed, then shipped models not shadowed by an installed one of the same name."""
    installed = installed_models()
    return [*sorted(installed.values(), key=lambda info: info.name),
            *(info for name, info in shipped_infos().items() if name not in installed)]


def find_model(name: str) -> Path:
    """An installed model package of this name, else a shipped model, else the one model of a language code."""
    models = all_models()
    by_name = {info.name: info for info in models}
    if name in by_name:
        return _checked(by_name[name]).path
    for_language = [info for info in models if info.language == name]
    if len(for_language) == 1:
        return _checked(for_language[0]).path
    if for_language:
        raise ModelFileError(f"{name}: {len(for_language)} models for language {name!r}: "
                             f"{', '.join(info.describe() for info in for_language)}; load one by name")
    installed = ", ".join(info.name for info in models if info.kind == "installed") or "none"
    shipped_names = ", ".join(info.name for info in models if info.kind == "shipped") or "none"
    from tagger.inference.languages import is_language_code

    if is_language_code(name):
        raise ModelFileError(f"{name}: no model for language {name!r} is installed; `tagger download {name}` installs one "
                             f"(installed: {installed}; shipped: {shipped_names})")
    raise ModelFileError(f"{name}: no such model file, nor the name of an installed or shipped model (installed: {installed}; "
                         f"shipped: {shipped_names}; `tagger models --available` lists those `tagger download` installs)")


def _checked(info: ModelInfo) -> ModelInfo:
    """A package that needs another tagger version is refused in one line, before its file is read."""
    if info.requires:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        from tagger import __version__

        try:
            fits = SpecifierSet(info.requires).contains(__version__, prereleases=True)
        except InvalidSpecifier:
            fits = False
        if not fits:
            raise ModelFileError(f"{info.name}: the installed model package needs tagger {info.requires}, "
                                 f"but this is tagger {__version__} (install a model built for it, or that tagger)")
    return info
