"""tagger: fast, accurate sequence tagging with character-level word embeddings."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tagger.inference.tagger import Tagger

# oneDNN, inside torch, keeps a compiled primitive per input shape it meets, 1,024 by default: over a
# long stream of texts that cache alone grew a process by hundreds of MB. Capped here, before any
# tagging, since oneDNN reads the cap when it compiles its first primitive (a value already in the
# environment wins; a process that ran oneDNN before importing tagger keeps the cap it started with).
# With batches padded to few shapes (`tagger.prediction.fast_inference.bucket`), 16 tag 2-3 % slower
# than 64 and keep `Tagger.pipe`'s peak after 1M words within 3 % of its peak after 100k (64: 9 %).
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")
# ideep, bfloat16's path into oneDNN, keeps a cache of its own (LRU_CACHE_CAPACITY, 1,024 by default, read
# by each thread at its first bfloat16 call) with a primitive per batch shape: `tagger serve`'s varied batches
# of few requests grew the tagging's RSS 28 % over 3,200 documents in bfloat16 (float32: flat); 64, 2 %.
os.environ.setdefault("LRU_CACHE_CAPACITY", "64")

__all__ = ["Tagger"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Tagger is imported on first use, not with the package: `tagger` (the CLI) must set the
    # OpenMP wait policy before torch is first imported, and `tagger --version` needs no torch.
    if name == "Tagger":
        from tagger.inference.tagger import Tagger

        return Tagger
    raise AttributeError(f"module 'tagger' has no attribute {name!r}")
