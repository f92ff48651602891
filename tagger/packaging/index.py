"""The index of a folder of published model wheels (`models/index.json`), written from the cards in their model files.

`tagger download` and `tagger models --available` read it, from the folder or from a copy of it
at a URL, to know each model's name, language, columns, training data and licence, size, sha256
and test figures without pip and without fetching a wheel. It is written from the wheels
themselves (the card in the model file each holds, read from the file's header inside the zip),
so it describes exactly the wheels beside it, whoever built them.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from tagger.atomic_file import atomic_write
from tagger.errors import TaggerError
from tagger.inference.packages import META_FILE, MODEL_FILE, SEGMENTER_DEV, learned_columns, stream_metadata
from tagger.packaging.card import is_non_commercial

INDEX_FILE = "index.json"
INDEX_FORMAT = 1
WHEEL_GLOB = "tagger_model_*-py3-none-any.whl"
TIMEOUT_S = 60


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def index_entry(wheel: Path) -> dict:
    """What the index says of one model wheel: from its meta.json and the card in its model file."""
    with zipfile.ZipFile(wheel) as archive:
        meta_path = next((name for name in archive.namelist() if name.count("/") == 1 and name.endswith(f"/{META_FILE}")), None)
        if meta_path is None:
            raise TaggerError(f"{wheel}: not a tagger model wheel (no {META_FILE})")
        meta = json.loads(archive.read(meta_path))
        with archive.open(f"{meta_path.split('/')[0]}/{MODEL_FILE}") as stream:
            metadata = stream_metadata(stream, f"{wheel}:{MODEL_FILE}")
    provenance = json.loads(metadata.get("provenance", "{}"))
    card = provenance.get("card") or {}
    test = (card.get("scores") or {}).get("test") or {"gold": meta.get("scores") or {}}
    data = {key: (card.get("data") or meta.get("training_data") or {}).get(key) for key in ("title", "source", "release")}
    entry = {"name": meta["name"], "version": meta["version"], "language": meta.get("language"),
             "columns": learned_columns(metadata), "segmenter": "segmenter" in metadata,
             "data": {**data, "licence": meta["licence"]}, "non_commercial": is_non_commercial(meta["licence"]),
             "test": {kind: figures for kind, figures in test.items() if figures},
             "wheel": wheel.name, "size": wheel.stat().st_size, "sha256": sha256(wheel), "tagger": meta.get("tagger")}
    if provenance.get(SEGMENTER_DEV):
        entry[SEGMENTER_DEV] = provenance[SEGMENTER_DEV]
    if wheel.with_name(f"{meta['name']}.md").is_file():
        entry["card"] = f"{meta['name']}.md"
    return entry


def write_index(folder: Path) -> Path:
    """(Re)write FOLDER/index.json from the model wheels in the folder, by name."""
    entries = sorted((index_entry(wheel) for wheel in folder.glob(WHEEL_GLOB)), key=lambda entry: (entry["name"], Version(entry["version"])))
    path = folder / INDEX_FILE
    with atomic_write(path) as temporary:
        temporary.write_text(json.dumps({"format": INDEX_FORMAT, "models": entries}, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    return path


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://", "file://"))


@dataclass
class PublishedModels:
    """An index read from a folder, or from a URL serving a copy of one (the wheels beside it)."""

    source: str
    models: list[dict]

    def wheel_location(self, entry: dict) -> str:
        return f"{self.source.rstrip('/')}/{entry['wheel']}" if is_url(self.source) else str(Path(self.source) / entry["wheel"])

    def find(self, name_or_language: str) -> list[dict]:
        """The model of this name, else every model of this language (newest version of each name)."""
        newest: dict[str, dict] = {}
        for entry in self.models:
            if entry["name"] not in newest or Version(entry["version"]) > Version(newest[entry["name"]]["version"]):
                newest[entry["name"]] = entry
        named = [entry for name, entry in newest.items() if name == name_or_language]
        return named or [entry for entry in newest.values() if entry.get("language") == name_or_language]


def read_index(source: str) -> PublishedModels | None:
    """The index of a folder or of a URL serving a copy of it; None where a URL has none (a package index)."""
    if is_url(source):
        try:
            with urllib.request.urlopen(f"{source.rstrip('/')}/{INDEX_FILE}", timeout=TIMEOUT_S) as response:
                text = response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise TaggerError(f"{source}: {INDEX_FILE} could not be read (HTTP {error.code} {error.reason})") from None
        except (urllib.error.URLError, OSError) as error:
            raise TaggerError(f"{source}: cannot be reached ({getattr(error, 'reason', error)})") from None
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise TaggerError(f"{source}: no such folder (give a folder of published models, or a URL)")
        if not (folder / INDEX_FILE).is_file():
            raise TaggerError(f"{source}: no {INDEX_FILE} here: not a folder of published models "
                              "(scripts/build_models.py --publish-only writes one)")
        text = (folder / INDEX_FILE).read_text(encoding="utf-8")
    try:
        index = json.loads(text)
        models = list(index["models"])
    except (ValueError, KeyError, TypeError) as error:
        raise TaggerError(f"{source}: {INDEX_FILE} is not a model index ({error})") from None
    if index.get("format", INDEX_FORMAT) > INDEX_FORMAT:
        raise TaggerError(f"{source}: {INDEX_FILE} is of a newer format ({index['format']}) than this tagger reads; upgrade tagger")
    return PublishedModels(source, models)
