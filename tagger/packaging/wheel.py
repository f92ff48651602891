"""A pure-Python wheel written with the standard library (PEP 427, PEP 376 RECORD, core metadata 2.1).

Model packages hold no code to compile, so a build backend and build isolation (which would fetch
setuptools from an index) buy nothing: the archive is written directly. Entries are in a fixed
order with a fixed timestamp, so the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tagger.atomic_file import atomic_write

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry holds: reproducible archives
_CHUNK = 1 << 20


@dataclass
class WheelSpec:
    """One distribution: its core metadata and its files (path in the wheel -> file on disk or bytes)."""

    name: str
    version: str
    summary: str
    description: str  # Markdown, shown by package indexes
    requires: list[str]
    license: str
    files: dict[str, Path | bytes]
    entry_points: dict[str, dict[str, str]] = field(default_factory=dict)  # group -> name -> object reference
    dist_info_files: dict[str, bytes] = field(default_factory=dict)  # extra files of the .dist-info folder
    keywords: list[str] = field(default_factory=list)
    requires_python: str = ">=3.10"


def escaped(name: str) -> str:
    """A name as wheel file names and .dist-info folders spell it (PEP 427, PEP 503 normalised)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def wheel_name(name: str, version: str) -> str:
    return f"{escaped(name)}-{version}-py3-none-any.whl"


def core_metadata(spec: WheelSpec) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {spec.name}", f"Version: {spec.version}", f"Summary: {spec.summary}",
             f"License: {spec.license}", f"Requires-Python: {spec.requires_python}"]
    if spec.keywords:
        lines.append(f"Keywords: {','.join(spec.keywords)}")
    lines += [f"Requires-Dist: {requirement}" for requirement in spec.requires]
    lines.append("Description-Content-Type: text/markdown")
    return "\n".join(lines) + "\n\n" + spec.description


def _entry_points(groups: dict[str, dict[str, str]]) -> str:
    return "".join(f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in points.items()) + "\n"
                   for group, points in groups.items())


def write_wheel(spec: WheelSpec, output_dir: Path) -> Path:
    """Write the wheel into `output_dir` whole or not at all; return its path."""
    dist_info = f"{escaped(spec.name)}-{spec.version}.dist-info"
    generated = {
        "METADATA": core_metadata(spec).encode("utf-8"),
        "WHEEL": b"Wheel-Version: 1.0\nGenerator: tagger package\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "top_level.txt": "".join(f"{top}\n" for top in sorted({path.split("/")[0] for path in spec.files})).encode(),
        **({"entry_points.txt": _entry_points(spec.entry_points).encode("utf-8")} if spec.entry_points else {}),
        **spec.dist_info_files,
    }
    entries = {**spec.files, **{f"{dist_info}/{name}": content for name, content in generated.items()}}
    output = output_dir / wheel_name(spec.name, spec.version)
    output_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(output) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        record = [_add(archive, arcname, content) for arcname, content in entries.items()]
        record.append(f"{dist_info}/RECORD,,")
        _add(archive, f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode("utf-8"))
    return output


def _add(archive: zipfile.ZipFile, arcname: str, content: Path | bytes) -> str:
    """Store one file; its RECORD line (path, urlsafe-base64 SHA-256 without padding, size)."""
    info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
    info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
    info.compress_type = zipfile.ZIP_DEFLATED
    digest, size = hashlib.sha256(), 0
    with archive.open(info, "w", force_zip64=True) as target:
        chunks = iter([content]) if isinstance(content, bytes) else _chunks(content)
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            target.write(chunk)
    encoded = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
    return f"{arcname},sha256={encoded},{size}"


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            yield chunk
