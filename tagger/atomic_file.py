"""Write a file whole or not at all: to a temporary file beside it, renamed into place once complete.

A rename within one directory is atomic, so a kill or a full disk midway never leaves half a
model, checkpoint or output file where the complete one was (or would be). Used by the model
file, training checkpoints and `tagger tag --output`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on failure it is removed.

    The finished file gets the permissions a newly created file gets (0666 less the umask), even
    when the writer (such as safetensors) created it owner-only.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
