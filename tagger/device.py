"""Where tagging runs: a device name a user gives ("cpu", "cuda", "cuda:N", "auto") made a `torch.device`.

Asking for a device that is not there is a `TaggerError` (one line), never a CUDA traceback from
deep inside the first batch. Training asks Lightning for its accelerator and checks it with the
same words (`tagger.training.accelerator`).
"""

from __future__ import annotations

import torch

from tagger.errors import TaggerError

DEVICES = ("auto", "cpu", "cuda", "cuda:N")


def resolve_device(device: str | torch.device = "auto", option: str = "device=") -> torch.device:
    """The device `device` names: "auto" is the current GPU where there is one, else the CPU.

    `option` is how the caller's user wrote the choice ("--device " on the command line), so
    that the error names it as they typed it.
    """
    name = str(device)
    if name == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    try:
        resolved = torch.device(name)
    except RuntimeError:
        raise TaggerError(f"{option}{name}: unknown device; use {', '.join(DEVICES)}") from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type != "cuda":
        raise TaggerError(f"{option}{name}: unknown device; use {', '.join(DEVICES)}")
    if not torch.cuda.is_available():
        raise TaggerError(f"{option}{name}: no CUDA device is available")
    count = torch.cuda.device_count()
    if resolved.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    if resolved.index >= count:
        raise TaggerError(f"{option}{name}: no such CUDA device ({count} visible: cuda:0 to cuda:{count - 1})")
    return resolved

