"""tagger: fast, accurate sequence tagging with character-level word embeddings."""

from tagger.inference.tagger import Tagger

__all__ = ["Tagger"]
__version__ = "0.1.0"
