"""Models shipped inside the package, and how a model argument becomes a file: a path, else a name."""

from __future__ import annotations

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

