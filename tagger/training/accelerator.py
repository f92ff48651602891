"""The trainer's accelerator, checked before anything is built, and the device every training phase uses.

Lightning finds out that `trainer=gpu` has no GPU only once the trainer is built, in a long
message; a GPU without bfloat16 would emulate `bf16-mixed` slowly or fail. Both are settled here
from the checked config, in one line or one warning, before the data is read.
"""

from __future__ import annotations

import logging

import torch

from tagger.errors import TaggerError
from tagger.training.config_schema import TrainerConfig

log = logging.getLogger(__name__)
GPU_ACCELERATORS = ("gpu", "cuda")


def check_accelerator(trainer: TrainerConfig) -> None:
    """A TaggerError where the trainer asks for GPUs that are not there; on a GPU without bfloat16, a
    bfloat16 precision becomes float16 (tensor cores from compute capability 7.0) or float32, with a warning."""
    if trainer.accelerator not in GPU_ACCELERATORS:
        return
    if not torch.cuda.is_available():
        raise TaggerError(f"trainer.accelerator={trainer.accelerator}: no CUDA GPU is available "
                          "(trainer=gpu needs one; without it the run trains on the CPU)")
    visible = torch.cuda.device_count()
    if isinstance(trainer.devices, int) and trainer.devices > visible:
        raise TaggerError(f"trainer.devices={trainer.devices}: only {visible} CUDA GPU(s) visible")
    precision = str(trainer.precision)
    if precision.startswith("bf16") and not torch.cuda.is_bf16_supported(including_emulation=False):
        fallback = "16-mixed" if torch.cuda.get_device_capability() >= (7, 0) else "32-true"
        log.warning("trainer.precision=%s: %s has no bfloat16; training in %s instead",
                    precision, torch.cuda.get_device_name(), fallback)
        trainer.precision = fallback

