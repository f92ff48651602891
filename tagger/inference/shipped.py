"""Models shipped inside the package, found by name."""

from __future__ import annotations

import itertools
from pathlib import Path

from tagger.errors import ModelFileError

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "shipped_models"


def shipped_models() -> list[str]:
    return sorted(path.name.removesuffix(".safetensors") for path in SHIPPED_DIR.glob("*.safetensors"))


def resolve_model(path_or_name: str | Path) -> Path:
    """A path to an existing file is used as is; otherwise the name of a shipped model."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    shipped = SHIPPED_DIR / f"{path_or_name}.safetensors"
    if shipped.is_file():
        return shipped
    names = ", ".join(shipped_models()) or "none"
    raise ModelFileError(f"{path_or_name}: no such model file, nor a shipped model name (shipped: {names})")


def card_scores(name: str) -> dict[str, dict[str, float]]:
    """A shipped model's gold-token scores as its card states them (`{"test": {"UPOS": 95.78, ...}, ...}`):
    the first table under `## Scores`, so a figure quoted elsewhere (the demo's banner) is read, not copied."""
    lines = (SHIPPED_DIR / f"{name}.md").read_text(encoding="utf-8").splitlines()
    table = lines[lines.index("## Scores"):]
    start = next(i for i, line in enumerate(table) if line.startswith("|"))
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in itertools.takewhile(
        lambda line: line.startswith("|"), table[start:])]
    header, body = rows[0], rows[2:]  # rows[1] is the |---| line
    return {row[0]: {column: float(value) for column, value in zip(header[1:], row[1:])} for row in body}
