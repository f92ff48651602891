"""Models shipped inside the package, and how a model argument becomes a file: a path, else a name."""

from __future__ import annotations

import itertools
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "shipped_models"


def shipped_models() -> list[str]:
    return sorted(path.name.removesuffix(".safetensors") for path in SHIPPED_DIR.glob("*.safetensors"))


def resolve_model(path_or_name: str | Path) -> Path:
    """A path to an existing file is used as is; otherwise a name: an installed model package, a shipped
    model, or a language code with one model (`tagger.inference.packages`)."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    from tagger.inference.packages import find_model  # entry points are read only for a name

    return find_model(str(path_or_name))


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
