"""The arithmetic a tagger computes in: one `Precision`, chosen when the `Predictor` is built and held by it.

"auto" is bfloat16 where the device computes it natively (a GPU with bfloat16, a CPU with
AVX512-BF16/AMX), else float32; "int8" is dynamic quantization, on a CPU and only when asked
(`tagger.prediction.fast_inference` says why and how each network is made). A `Precision` is
everything the choice decides: the dtype, the network that predicts, the dtype character
embeddings are kept in, and the context a forward pass runs in.

Nothing here changes process-wide state, so taggers of different precisions, in any threads,
never disturb each other or the rest of the process. On a GPU that leaves one thing to the
process: float32 there is torch's float32 as the process is set, and cuDNN's recurrent and
convolution kernels use TF32 (a 10-bit mantissa) by default on Ampere and later. Torch has no
per-call or per-thread switch for that (pytorch/pytorch#69921), and toggling its global one
around each call raced between threads. `torch.backends.cudnn.allow_tf32 = False` makes a GPU
compute what the CPU computes; the `tagger` command, which owns its process, does that
(`ieee_float32_in_this_process`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from tagger.errors import TaggerError
from tagger.model.network import TaggerNetwork
from tagger.prediction.fast_inference import INT8, inference_network

PRECISIONS = ("auto", "float32", "bfloat16", "int8")
CPU = torch.device("cpu")


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware; elsewhere it is emulated and slower than float32."""
    capabilities = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


@dataclass(frozen=True)
class Precision:
    """How one predictor computes on its device: `dtype` is float32, bfloat16 or `torch.qint8` (int8)."""

    dtype: torch.dtype
    device: torch.device = CPU

    @classmethod
    def resolve(cls, precision: str = "auto", device: torch.device = CPU) -> Precision:
        """The precision a user's name asks for on `device`; one the device cannot compute is a TaggerError."""
        if precision not in PRECISIONS:
            raise TaggerError(f"unknown precision {precision!r}: use {', '.join(PRECISIONS)}")
        if precision == "int8":
            if device.type != "cpu":
                raise TaggerError("precision int8 runs on the CPU only; use auto, float32 or bfloat16 on a GPU")
            return cls(INT8, device)
        if device.type == "cuda":
            native = torch.cuda.is_bf16_supported(including_emulation=False)
            if precision == "bfloat16" and not native:
                raise TaggerError(f"precision bfloat16: {torch.cuda.get_device_name(device)} has no bfloat16; use float32")
        else:
            native = native_bfloat16()
        bfloat16 = precision == "bfloat16" or (precision == "auto" and native)
        return cls(torch.bfloat16 if bfloat16 else torch.float32, device)

    @property
    def name(self) -> str:
        """The name a user gives for it: float32, bfloat16 or int8."""
        return "int8" if self.dtype == INT8 else str(self.dtype).removeprefix("torch.")

    @property
    def embedding_dtype(self) -> torch.dtype:
        """The dtype character embeddings are kept in: the network's own on a CPU; float32 under a GPU's
        autocast (which computes them so) and int8's (whose activations stay float32)."""
        return self.dtype if self.device.type == "cpu" and self.dtype != INT8 else torch.float32

    def network(self, network: TaggerNetwork) -> TaggerNetwork:
        """The network to predict with (`network` itself in float32 on the CPU, else a copy)."""
        return inference_network(network, self.dtype, self.device)

    def forward_context(self) -> contextlib.AbstractContextManager:
        """What a forward pass runs in: bfloat16 autocast on a GPU; nothing in float32 or on the CPU,
        whose network is already cast. It changes no process-wide state (autocast is per thread)."""
        if self.device.type == "cpu" or self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)


def ieee_float32_in_this_process() -> None:
    """cuDNN's float32 computed as float32 (not TF32) for the whole process, so that a GPU's float32
    tags and scores are the CPU's. For the `tagger` command and its workers, which own their process;
    a library never calls it. The legacy switch, because torch 2.13 refuses to read it (any
    `torch.backends.cudnn.flags()` block) once the per-operation ones disagree with it."""
    torch.backends.cudnn.allow_tf32 = False
