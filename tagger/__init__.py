"""tagger: fast, accurate sequence tagging with character-level word embeddings."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tagger.inference.tagger import Tagger

__all__ = ["Tagger"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Tagger is imported on first use, not with the package: `tagger` (the CLI) must set the
    # OpenMP wait policy before torch is first imported, and `tagger --version` needs no torch.
    if name == "Tagger":
        from tagger.inference.tagger import Tagger

        return Tagger
    raise AttributeError(f"module 'tagger' has no attribute {name!r}")
