"""Models shipped inside the package, found by name."""

from __future__ import annotations

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
