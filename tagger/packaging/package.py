"""`tagger package`: one model file -> a wheel `tagger-model-<name>`, as `spacy package` makes model packages.

The wheel holds a Python package `tagger_model_<name>` with the model file, its card and
`meta.json`, declares the entry point `tagger.models: <name> = tagger_model_<name>` (how
`Tagger.load("<name>")` finds it), requires the tagger minor version it was built with (and
nothing else, so installing it never pulls torch again), and carries the training data's
licence in its metadata. A model with a card (the published ones) is described by it; a training
run's own file by its run: `scores.json` beside it, and its data folder's `PROVENANCE.md` and
`LICENSE.txt` (where the recorded training file still is).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tagger.errors import TaggerError
from tagger.inference.packages import CARD_FILE, ENTRY_POINT_GROUP, META_FILE, MODEL_FILE, SEGMENTER_DEV, learned_columns
from tagger.packaging.card import data_provenance, is_non_commercial, render_card
from tagger.packaging.wheel import WheelSpec, wheel_name, write_wheel

DEFAULT_VERSION = "0.1.0"
UNKNOWN_LICENCE = "unknown (the model records no training-data licence)"
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_INIT = '''"""The tagger model {name}, installed as a package: `load()` gives a Tagger (written by `tagger package`)."""

from pathlib import Path

MODEL_PATH = Path(__file__).with_name("{model}")


def load(**options):
    """Tagger.load(MODEL_PATH, **options): what `Tagger.load("{name}")` finds by name."""
    from tagger import Tagger

    return Tagger.load(MODEL_PATH, **options)
'''


@dataclass
class Packaged:
    """What `tagger package` built."""

    wheel: Path
    name: str
    version: str
    licence: str

    @property
    def non_commercial(self) -> bool:
        return is_non_commercial(self.licence)


def compatible_tagger(version: str) -> str:
    """The tagger versions a model built now loads in: this minor release series (spaCy's rule)."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return f">={major}.{minor}.0,<{major}.{minor + 1}.0"


def package_model(model: str | Path, output_dir: str | Path, name: str | None = None, version: str | None = None,
                  card: str | Path | None = None, licence: str | None = None, licence_file: str | Path | None = None,
                  force: bool = False) -> Packaged:
    """Build the wheel of one model (a file, or the name of an installed or shipped one) into `output_dir`."""
    from packaging.version import InvalidVersion, Version

    from tagger import __version__
    from tagger.inference.shipped import resolve_model
    from tagger.model.model_file import read_metadata

    path = resolve_model(model)
    metadata = read_metadata(path)  # a foreign, truncated or too new file: one line, here
    provenance = json.loads(metadata.get("provenance", "{}"))
    data_directory = _data_directory(provenance)
    recorded = provenance.get("card") or _run_card(path, data_directory)
    if licence_file is None and data_directory and (data_directory / "LICENSE.txt").is_file():
        licence_file = data_directory / "LICENSE.txt"
    name = name or recorded.get("name") or provenance.get("data") or path.stem
    if not _NAME.fullmatch(name):
        raise TaggerError(f"--name {name!r}: a model name is lower-case letters, digits and underscores, starting with a letter")
    try:
        version = str(Version(version or DEFAULT_VERSION))
    except InvalidVersion:
        raise TaggerError(f"--version {version!r} is not a version number (PEP 440, such as 0.1.0)") from None
    recorded_licence = recorded.get("data", {}).get("licence")
    licence = licence or (recorded_licence if recorded_licence not in (None, "", "unknown") else UNKNOWN_LICENCE)
    licence = " ".join(licence.split())  # one METADATA line
    wheel = Path(output_dir) / wheel_name(f"tagger-model-{name}", version)
    if wheel.exists() and not force:
        raise TaggerError(f"{wheel} exists; pass --force to overwrite it")
    columns = learned_columns(metadata)
    card_text = _card_text(path, card, {**recorded, "name": name, "columns": columns,
                                        "language": provenance.get("language"), "segmenter": "segmenter" in metadata,
                                        "data": {**recorded.get("data", {}), "licence": licence}})
    module = f"tagger_model_{name}"
    meta = {"name": name, "version": version, "language": provenance.get("language"), "columns": columns,
            "segmenter": "segmenter" in metadata, "tagger": compatible_tagger(__version__),
            "format_version": int(metadata["format_version"]), "licence": licence, "data": provenance.get("data"),
            "training_data": {**{key: recorded.get("data", {}).get(key) for key in ("title", "source", "release")}, "licence": licence},
            "scores": recorded.get("scores", {}).get("test", {}).get("gold", {}),
            **({SEGMENTER_DEV: provenance[SEGMENTER_DEV]} if provenance.get(SEGMENTER_DEV) else {})}
    spec = WheelSpec(
        name=f"tagger-model-{name}", version=version,
        summary=f"tagger model {name}: {provenance.get('language') or 'unknown language'}, {', '.join(columns)}",
        description=card_text, requires=[f"tagger{meta['tagger']}"], license=licence,
        files={f"{module}/__init__.py": _INIT.format(name=name, model=MODEL_FILE).encode("utf-8"),
               f"{module}/{MODEL_FILE}": path, f"{module}/{CARD_FILE}": card_text.encode("utf-8"),
               f"{module}/{META_FILE}": (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode("utf-8")},
        entry_points={ENTRY_POINT_GROUP: {name: module}},
        dist_info_files={"LICENSE": _licence_text(licence, licence_file)},
        keywords=["tagger", "tagger-model", *(filter(None, [provenance.get("language")]))],
    )
    return Packaged(write_wheel(spec, Path(output_dir)), name, version, licence)


def _data_directory(provenance: dict) -> Path | None:
    """The training data's folder, where it is on this machine and says where the data came from
    (PROVENANCE.md, LICENSE.txt, as the corpora in ../shared/data do)."""
    train = provenance.get("train")
    folder = Path(train).parent if train else None
    if folder and folder.is_dir() and any((folder / name).is_file() for name in ("PROVENANCE.md", "LICENSE.txt")):
        return folder
    return None


def _run_card(model: Path, data_directory: Path | None) -> dict:
    """The card of a model that records none (a training run's own file): the run's scores.json beside it,
    and the title, source, release and licence of its data folder."""
    card: dict = {}
    scores_file = model.parent / "scores.json"
    if scores_file.is_file():
        scores = json.loads(scores_file.read_text(encoding="utf-8"))
        if Path(scores.get("model", "")).name == model.name:  # the run's scores are of this file
            card["scores"] = {split: {"gold": scores[split]} for split in ("dev", "test") if scores.get(split)}
    if data_directory is not None:
        card["data"] = data_provenance(data_directory)
    return card


def _card_text(model: Path, card: str | Path | None, recorded: dict) -> str:
    """The card given, else the Markdown card beside the model file, else one written from its metadata."""
    beside = model.with_suffix(".md")
    source = Path(card) if card else beside if beside.is_file() else None
    if source is None:
        return render_card(recorded)
    if not source.is_file():
        raise TaggerError(f"--card {source}: no such file")
    return source.read_text(encoding="utf-8")


def _licence_text(licence: str, licence_file: str | Path | None) -> bytes:
    header = (f"The model in this package was trained on data licensed {licence}.\n"
              "The licence of the training data follows (as distributed with it), where it was given.\n\n")
    if licence_file is None:
        return header.encode("utf-8")
    path = Path(licence_file)
    if not path.is_file():
        raise TaggerError(f"--license-file {path}: no such file")
    return header.encode("utf-8") + path.read_bytes()
