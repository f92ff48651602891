"""Checkpoints written beside their destination and renamed into place (`tagger.atomic_file`).

Lightning's own writer stages a checkpoint in the system temporary directory and moves it; when
that is another file system (a local /tmp, runs on NFS) the move is a copy, and a kill during it
leaves a truncated last.ckpt that cannot be resumed. A rename within one directory is atomic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from tagger.atomic_file import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        with atomic_write(path) as temporary:
            torch.save(checkpoint, temporary)
